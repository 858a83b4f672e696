"""``vmcert inspect IMAGE [--content] [--json]``: offline verdict of an image file: its format and
disk layout, and with ``--content`` every check its files can judge (no boot)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
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

if TYPE_CHECKING:
    from checks.offline import OfflineCollection

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


def _content_order(check_id: str) -> tuple[int, str]:
    return (_ORDER.index(check_id) if check_id in _ORDER else len(_ORDER), "")


def run_content_checks(
    path: Path,
    inspection: ImageInspection,
    policy: Policy | None = None,
    waivers: Sequence[WaiverEntry] = (),
) -> tuple[list[Result], OfflineCollection]:
    """Judge every registered check from ``inspection`` and the image's files (``--content``):
    layout checks first, then the others in registry order; checks whose facts need a running
    system come back SKIPPED and marked ``not_judged``."""
    from checks.offline import read_image_facts

    chosen = select_checks()
    chosen.sort(key=lambda c: _content_order(c.id))
    plan = CheckPlan(chosen, policy, waivers)
    files = read_image_facts(path, [f for f in plan.facts_needed() if f.probed])
    facts = Facts().with_value(IMAGE, inspection, "offline").merged(files.facts)
    return plan.evaluate(facts, unavailable=files.unavailable), files


def inspection_document(
    inspection: ImageInspection,
    results: list[Result],
    seconds: float,
    files: OfflineCollection | None = None,
) -> dict[str, object]:
    """The ``--json`` document (``schema_version`` versions its layout); with ``files`` (the
    ``--content`` reading) also ``content``: how the image's files were read."""
    counts = Counter(str(r.status) for r in results if not r.not_judged)
    failed = any(r.failed for r in results)
    extra: dict[str, object] = {}
    if files is not None:
        extra["content"] = files.run_facts()
        extra["not_judged"] = {r.check_id: r.not_judged for r in results if r.not_judged}
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
        **extra,
    }


def _print_human(
    inspection: ImageInspection, results: list[Result], files: OfflineCollection | None = None
) -> None:
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
    if files is not None:
        where = ", ".join([f"/ on {files.filesystems.get('root', '?')}", *_mounts(files)])
        out.print(f"[bold]Files[/] {where}; read in {files.seconds:.2f} s")
        for note in _notes(files):
            out.print(f"  note: {escape(note)}")
    title = "Offline checks" if files is None else "Offline checks (layout and files)"
    checks = Table(title=title, title_justify="left")
    for column in ("check", "status", "actual", "required", "message"):
        checks.add_column(column, overflow="fold")
    for r in results:
        if r.not_judged:
            continue
        style = _STYLE.get(r.status, "")
        checks.add_row(
            escape(r.check_id),
            f"[{style}]{r.status}[/]",
            escape(r.actual),
            escape(r.required),
            escape(r.message),
        )
    out.print(checks)
    unjudged = [r for r in results if r.not_judged]
    if unjudged:
        out.print("[dim]Not judged offline:[/]")
        for r in unjudged:
            out.print(f"[dim]  {escape(r.check_id)}: {escape(r.not_judged)}[/]")
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


def _mounts(files: OfflineCollection) -> list[str]:
    mounts = files.filesystems.get("mounts")
    return [str(m) for m in mounts] if isinstance(mounts, list) else []


def _notes(files: OfflineCollection) -> list[str]:
    notes = files.filesystems.get("notes")
    return [str(n) for n in notes] if isinstance(notes, list) else []


@click.command("inspect")
@click.argument("image", type=click.Path(path_type=Path, readable=False))
@click.option(
    "--content",
    is_flag=True,
    help="Also judge every check the image's files can answer (sshd_config, shadow, sudoers, "
    "histories, boot loader, initramfs, packages ...), without booting.",
)
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
    image: Path, content: bool, as_json: bool, policy: str | None, waivers_file: Path | None
) -> int:
    """Inspect IMAGE offline: format, VHD footer, sizes, partitions, and the image/disk checks;
    with --content also every check the image's files can judge (checks that need a running
    system are listed as not judged; the data-extent scan is left out).

    Exit status: 0 nothing failed, 1 a check failed, 2 the file cannot be used as an image.
    """
    started = time.perf_counter()
    the_policy, waivers = _policy_and_waivers(policy, waivers_file)
    # the data-extent scan reads every data byte: no verdict needs it, so --content (whose
    # verdict must come in seconds) leaves it out
    inspection = inspect_image(image, extents=not content)
    files = None
    if content:
        results, files = run_content_checks(image, inspection, the_policy, waivers)
    else:
        results = run_offline_checks(inspection, the_policy, waivers)
    seconds = time.perf_counter() - started
    if as_json:
        document = inspection_document(inspection, results, seconds, files)
        click.echo(json.dumps(document, indent=2))
    else:
        _print_human(inspection, results, files)
    return int(ExitCode.FAILED if any(r.failed for r in results) else ExitCode.OK)
