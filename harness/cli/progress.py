"""Certify progress on the terminal, drawn from the runner's phase events.

On a terminal (outside CI) a live table shows each image's phase, elapsed time and detail; otherwise
every event is one timestamped line on stderr, which is what CI logs keep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.live import Live
from rich.table import Table

from harness.console import interactive, notice, stderr
from harness.events import Phase, PhaseEvent


@dataclass
class _Row:
    phase: str = Phase.QUEUED.value
    started: float | None = None
    detail: str = ""


class CertifyProgress:
    """An event sink (call it with each :class:`PhaseEvent`) and a context manager that draws."""

    def __init__(self, images: Sequence[Path]) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, _Row] = {str(path): _Row() for path in images}
        self._live: Live | None = None
        if interactive():
            self._live = Live(
                console=stderr, get_renderable=self._table, refresh_per_second=2, transient=True
            )

    def __enter__(self) -> CertifyProgress:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing (idempotent): whatever is printed next appears below, not under, it."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    def _table(self) -> Table:
        table = Table(title="vmcert certify", title_justify="left")
        for column in ("Image", "Phase", "Elapsed", "Detail"):
            table.add_column(column)
        now = time.monotonic()
        with self._lock:
            rows = [(key, row.phase, row.started, row.detail) for key, row in self._rows.items()]
        for image, phase, started, detail in rows:
            elapsed = "" if started is None else f"{now - started:5.0f} s"
            table.add_row(Path(image).name, phase, elapsed, detail)
        return table

    def __call__(self, event: PhaseEvent) -> None:
        """Show one event: notices and kept machines always as lines, phases in the table."""
        if event.phase in (Phase.NOTICE, Phase.KEPT):
            notice(f"{event.image.name}: {event.detail}")
            return
        label = event.phase.value
        with self._lock:
            row = self._rows.setdefault(str(event.image), _Row())
            row.phase, row.detail = label, event.detail
            if row.started is None:
                row.started = time.monotonic()
        if self._live is None:
            notice(f"{event.image.name}: {label}{f' ({event.detail})' if event.detail else ''}")
