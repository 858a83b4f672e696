"""``vmcert inspect IMAGE [--json]``: offline format and disk-layout verdict of an image file."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from checks.fact import Facts
from checks.facts.image import FACT as IMAGE
from checks.model import Result, Status
from checks.plan import CheckPlan
from checks.policy import Policy
from checks.registry import select_checks
from checks.waivers import WaiverEntry
from harness.errors import ExitCode
from images.inspect import ImageInspection, human_size, inspect_image
from reports.model import result_to_dict

DOCUMENT_VERSION = 2
"""Version of the ``--json`` layout: 2 lists results as the JSON report does (key ``id``)."""

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


def run_offline_checks(
    inspection: ImageInspection, policy: Policy | None = None, waivers: Sequence[WaiverEntry] = ()
) -> list[Result]:
    """Judge ``inspection`` with the offline image and disk checks (format checks first), through
    the same :class:`~checks.plan.CheckPlan` as ``certify``."""
    chosen = select_checks(OFFLINE_AREAS, tag="offline")
    chosen.sort(key=lambda c: (_ORDER.index(c.id) if c.id in _ORDER else len(_ORDER), c.id))
    facts = Facts().with_value(IMAGE, inspection, "offline")
    return CheckPlan(chosen, policy, waivers).evaluate(facts, only_judgeable=True)


def inspection_document(
    inspection: ImageInspection, results: list[Result], seconds: float
) -> dict[str, object]:
    """The ``--json`` document (``schema_version`` versions its layout)."""
    counts = Counter(str(r.status) for r in results)
    failed = any(r.failed for r in results)
    return {
        "schema_version": DOCUMENT_VERSION,
        "tool": "vmcert inspect",
        "image": inspection.to_dict(),
        "results": [result_to_dict(r, "offline") for r in results],
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


def _policy_and_waivers(
    policy: str | None, waivers_file: Path | None
) -> tuple[Policy | None, list[WaiverEntry]]:
    """The ``--policy`` and ``--waivers`` given (their loaders are imported only then)."""
    from checks.registry import CHECKS

    the_policy = None
    if policy is not None:
        from harness.policy import load_policy

        the_policy = load_policy(policy, list(CHECKS))
    waivers: list[WaiverEntry] = []
    if waivers_file is not None:
        from harness.waivers import load_waivers

        waivers = load_waivers(waivers_file, CHECKS.names())
    return the_policy, waivers


@click.command("inspect")
@click.argument("image", type=click.Path(path_type=Path, readable=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
@click.option(
    "--policy", default=None, help="Profile (marketplace, selftest, lisa) or a TOML file."
)
@click.option(
    "--waivers",
    "waivers_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML/YAML waiver file: failures it lists (with a justification) do not fail.",
)
def inspect_command(
    image: Path, as_json: bool, policy: str | None, waivers_file: Path | None
) -> int:
    """Inspect IMAGE offline: format, VHD footer, sizes, partitions, and the image/disk checks.

    Exit status: 0 nothing failed, 1 a check failed, 2 the file cannot be used as an image.
    """
    started = time.perf_counter()
    the_policy, waivers = _policy_and_waivers(policy, waivers_file)
    inspection = inspect_image(image)
    results = run_offline_checks(inspection, the_policy, waivers)
    seconds = time.perf_counter() - started
    if as_json:
        document = inspection_document(inspection, results, seconds)
        click.echo(json.dumps(document, indent=2))
    else:
        _print_human(inspection, results)
    return int(ExitCode.FAILED if any(r.failed for r in results) else ExitCode.OK)
