"""``vmcert inspect IMAGE [--json]``: offline format and disk-layout verdict of an image file."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from checks.model import Result, Status
from checks.registry import select_checks
from harness.errors import ExitCode
from images.inspect import SCHEMA_VERSION, ImageInspection, human_size, inspect_image

OFFLINE_AREAS = ("image", "disk")
"""Check areas ``vmcert inspect`` runs: they need nothing but the image file."""

_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.ERROR: "bold red",
    Status.WARNING: "yellow",
    Status.SKIPPED: "dim",
}


_ORDER = (
    "vhd_format",
    "vhd_footer",
    "vhd_size_alignment",
    "vhd_file_length",
    "os_disk_size",
    "first_1mb_free",
    "partition_table_valid",
    "no_swap_on_os_disk",
    "single_root_partition",
    "no_lvm_os_disk",
)


def run_offline_checks(inspection: ImageInspection) -> list[Result]:
    """Run the offline image and disk checks against ``inspection`` (format checks first)."""
    chosen = select_checks(OFFLINE_AREAS, tag="offline")
    chosen.sort(key=lambda c: (_ORDER.index(c.id) if c.id in _ORDER else len(_ORDER), c.id))
    return [c.run({"image": inspection}) for c in chosen]


def result_dict(result: Result) -> dict[str, object]:
    """One result as JSON."""
    return {
        "check_id": result.check_id,
        "title": result.title,
        "area": result.area,
        "status": str(result.status),
        "severity": str(result.severity),
        "actual": result.actual,
        "required": result.required,
        "message": result.message,
        "evidence": result.evidence,
        "ms_test_name": result.ms_test_name,
        "selftest_id": result.selftest_id,
    }


def inspection_document(
    inspection: ImageInspection, results: list[Result], seconds: float
) -> dict[str, object]:
    """The ``--json`` document (``schema_version`` versions its layout)."""
    counts = Counter(str(r.status) for r in results)
    failed = any(r.failed for r in results)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "vmcert inspect",
        "image": inspection.to_dict(),
        "results": [result_dict(r) for r in results],
        "summary": {
            "passed": counts.get("pass", 0),
            "failed": counts.get("fail", 0) + counts.get("error", 0),
            "warnings": counts.get("warning", 0),
            "skipped": counts.get("skipped", 0),
            "verdict": "fail" if failed else "pass",
        },
        "exit_code": int(ExitCode.FAILED if failed else ExitCode.OK),
        "seconds": round(seconds, 3),
    }


def _print_human(inspection: ImageInspection, results: list[Result]) -> None:
    from harness.console import stdout

    # Logs are not 80 columns wide: without a terminal, give the tables room instead of folding.
    out = stdout if stdout.is_terminal else Console(highlight=False, width=max(stdout.width, 150))
    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Image", inspection.path)
    detail = f" ({inspection.footer.disk_type_name} footer)" if inspection.footer else ""
    facts.add_row("Format", f"{inspection.format}{detail}")
    virtual = inspection.virtual_size
    facts.add_row("Virtual size", human_size(virtual) if virtual is not None else "unknown")
    facts.add_row("File length", human_size(inspection.file_length))
    if inspection.data_bytes is not None:
        facts.add_row("Data bytes", human_size(inspection.data_bytes))
    table = inspection.partition_table
    if table is None:
        facts.add_row("Partitions", inspection.partition_note or "not read")
    elif table.kind == "none":
        facts.add_row(
            "Partitions", f"no table (signature at sector 0: {table.whole_disk_filesystem})"
        )
    else:
        facts.add_row("Partitions", f"{table.kind.upper()}, {len(table.partitions)} partition(s)")
    out.print(facts)
    if table is not None and table.partitions:
        parts = Table(title="Partitions", title_justify="left")
        for column in ("#", "start sector", "size", "type", "name", "signature"):
            parts.add_column(column)
        for p in table.partitions:
            parts.add_row(
                str(p.index),
                str(p.start_lba),
                human_size(p.size).split(" (")[0],
                f"{p.type_name} ({p.type_id})",
                p.name,
                p.filesystem,
            )
        out.print(parts)
    checks = Table(title="Offline checks", title_justify="left")
    for column in ("check", "status", "actual", "required", "message"):
        checks.add_column(column, overflow="fold")
    for r in results:
        style = _STYLE.get(r.status, "")
        checks.add_row(r.check_id, f"[{style}]{r.status}[/]", r.actual, r.required, r.message)
    out.print(checks)
    failed = [r.check_id for r in results if r.failed]
    warned = [r.check_id for r in results if r.status is Status.WARNING]
    if failed:
        out.print(f"[bold red]FAIL[/]: {', '.join(failed)}")
    else:
        extra = f" ({len(warned)} warning(s))" if warned else ""
        out.print(f"[green]PASS[/]: nothing failed{extra}")


@click.command("inspect")
@click.argument("image", type=click.Path(path_type=Path, readable=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
def inspect_command(image: Path, as_json: bool) -> int:
    """Inspect IMAGE offline: format, VHD footer, sizes, partitions, and the image/disk checks.

    Exit status: 0 nothing failed, 1 a check failed, 2 the file cannot be used as an image.
    """
    started = time.perf_counter()
    inspection = inspect_image(image)
    results = run_offline_checks(inspection)
    seconds = time.perf_counter() - started
    if as_json:
        document = inspection_document(inspection, results, seconds)
        click.echo(json.dumps(document, indent=2))
    else:
        _print_human(inspection, results)
    return int(ExitCode.FAILED if any(r.failed for r in results) else ExitCode.OK)
