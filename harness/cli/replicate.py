"""``vmcert replicate IMAGE --to REGION…``: copy an approved image to page blobs, verified."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.options import split_list
from harness.console import interactive, notice, stdout
from harness.errors import USER_ERRORS
from harness.replication import STRATEGIES, ReplicationRecord, replicate_image
from harness.replication.redaction import install_redaction, redact

if TYPE_CHECKING:
    from rich.progress import TaskID


class PlainProgress:
    """Timestamped progress lines (no terminal or CI): start, every ``every`` s, finish."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._state: dict[str, list[float]] = {}  # region -> [done, total, started, last_line]

    def start(self, region: str, total: int, strategy: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._state[region] = [0, total, now, now]
        notice(f"{region}: {strategy}, {total / 2**20:.1f} MiB of data to send")

    def advance(self, region: str, n: int) -> None:
        with self._lock:
            st = self._state.get(region)
            if st is None:
                return
            st[0] += n
            now = time.monotonic()
            if now - st[3] < self.every:
                return
            st[3] = now
            done, total, started = st[0], st[1], st[2]
        rate = done / max(now - started, 1e-6) / 2**20
        notice(f"{region}: {done / 2**20:.1f}/{total / 2**20:.1f} MiB, {rate:.1f} MiB/s")

    def finish(self, region: str, state: str) -> None:
        notice(f"{region}: {state}")


class RichProgress:
    """One rich progress bar per region with bytes and bytes/s."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        from harness.console import stderr

        self.progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=stderr,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.progress.stop()

    def start(self, region: str, total: int, strategy: str) -> None:
        if region in self.tasks:
            self.progress.reset(self.tasks[region], total=total, note=strategy)
        else:
            self.tasks[region] = self.progress.add_task(region, total=total, note=strategy)

    def advance(self, region: str, n: int) -> None:
        if region in self.tasks:
            self.progress.advance(self.tasks[region], n)

    def finish(self, region: str, state: str) -> None:
        if region not in self.tasks:
            self.tasks[region] = self.progress.add_task(region, total=1, note=state)
        task = self.progress.tasks[[t.id for t in self.progress.tasks].index(self.tasks[region])]
        self.progress.update(self.tasks[region], completed=task.total, note=state)


@contextmanager
def progress_display() -> Iterator[PlainProgress | RichProgress]:
    """Bars per region on a terminal, timestamped lines otherwise (no TTY or CI)."""
    if interactive():
        with RichProgress() as bars:
            yield bars
    else:
        yield PlainProgress()


def _setup_log(path: Path) -> logging.Handler:
    """A DEBUG log file (Azure SDK HTTP lines included), scrubbed by the redaction factory."""
    install_redaction()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("azure").setLevel(logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.INFO)
    return handler


def print_summary(record: ReplicationRecord) -> None:
    """A per-region table on stdout."""
    from rich.table import Table

    table = Table(
        title=f"replication of {Path(str(record.image['path'])).name}", title_justify="left"
    )
    for col in ("region", "state", "strategy", "sent MiB", "resumed MiB", "seconds", "MiB/s"):
        table.add_column(col, justify="right" if "MiB" in col or col == "seconds" else "left")
    for r in record.regions:
        rate = r.bytes_sent / r.duration_s / 2**20 if r.duration_s and r.bytes_sent else 0.0
        table.add_row(
            r.region,
            r.state,
            r.strategy or "-",
            f"{r.bytes_sent / 2**20:.1f}",
            f"{r.bytes_resumed / 2**20:.1f}",
            f"{r.duration_s:.1f}",
            f"{rate:.1f}",
        )
    stdout.print(table)
    approval = record.approval
    if approval.get("approved"):
        how = f"approved by {approval.get('report')}"
    elif approval.get("forced"):
        how = "forced with --force (not approved)"
    else:
        how = str(approval.get("note"))
    stdout.print(
        f"approval: {how}; image data read {record.source_reads:g} time(s) for sending",
        markup=False,
    )
    for r in record.regions:
        if r.error:
            stdout.print(redact(f"{r.region}: {r.error}"), markup=False)


@click.command("replicate")
@click.argument("image", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--to",
    "regions",
    multiple=True,
    required=True,
    metavar="REGION",
    help="Target region (repeat, or comma-separate); the first is the copy source.",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Storage TOML (default: $VMCERT_STORAGE_CONFIG, else embedded Azurite).",
)
@click.option("--strategy", type=click.Choice(STRATEGIES), default="auto", show_default=True)
@click.option(
    "--report",
    "report",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A vmcert certify JSON report that certifies this image.",
)
@click.option("--force", is_flag=True, help="Replicate without an approving report (recorded).")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--offer", default=None, help="{offer} in the blob name (default: image file stem).")
@click.option("--plan", default="default", show_default=True, help="{plan} in the blob name.")
@click.option(
    "--image-version",
    "version",
    default=None,
    help="{version} in the blob name (default: first 12 hex of the sparse digest).",
)
@click.option(
    "--verify-only",
    is_flag=True,
    help="Only recompute and compare each region's digest; mark bad replicas failed.",
)
@click.option(
    "--trust-metadata",
    is_flag=True,
    help="Skip a region whose blob metadata says verified, without recomputing.",
)
@click.option(
    "--limit-rate",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="MIB_PER_S",
    help="Cap the upload rate (MiB/s over all regions).",
)
@click.option(
    "--record",
    "record_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Replication record JSON (default: runs/replicate-<UTC time>.json).",
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Debug log (default: the record path with .log).",
)
def replicate_command(
    image: Path,
    regions: tuple[str, ...],
    config: Path | None,
    strategy: str,
    report: Path | None,
    force: bool,
    threads: int,
    offer: str | None,
    plan: str,
    version: str | None,
    verify_only: bool,
    trust_metadata: bool,
    limit_rate: float | None,
    record_path: Path | None,
    log_path: Path | None,
) -> int:
    """Replicate IMAGE (approved by --report, or --force) to page blobs in every --to region.

    Exit 0 when every region is replicated and verified, 1 when a region failed, 2 for bad input
    or a missing approval, 3 when storage is unreachable.
    """
    if report is not None and force:
        raise click.UsageError("give either --report or --force, not both")
    if not force and report is None and not verify_only:
        from harness.errors import InputError

        raise InputError(
            "not approved: pass --report REPORT.json (a vmcert certify report that certifies this "
            "image) or --force"
        )
    names = split_list(regions)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    record_path = record_path or Path("runs") / f"replicate-{stamp}.json"
    log_path = log_path or record_path.with_suffix(".log")
    handler = _setup_log(log_path)
    logging.getLogger(__name__).info(
        "vmcert replicate %s --to %s (strategy %s)", image, names, strategy
    )
    try:
        try:
            with progress_display() as progress:
                record = replicate_image(
                    image,
                    names,
                    progress=progress,
                    config=config,
                    strategy=strategy,
                    approval_report=report,
                    force=force or verify_only,
                    threads=threads,
                    offer=offer,
                    plan=plan,
                    version=version,
                    verify_only=verify_only,
                    trust_metadata=trust_metadata,
                    limit_rate=limit_rate * 2**20 if limit_rate else None,
                )
        except USER_ERRORS as exc:
            # The one-line message printed by the CLI must not carry a secret either.
            exc.args = (redact(str(exc)),)
            logging.getLogger(__name__).error("%s", exc)
            raise
        if verify_only:
            record.approval = {
                "approved": None,
                "forced": False,
                "note": "verify-only: nothing written",
            }
        record.write(record_path)
        print_summary(record)
        notice(f"record: {record_path}  log: {log_path}")
        return int(record.exit_code)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
