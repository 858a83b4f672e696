"""Phase events: how the runner tells its caller what it is doing, without rendering anything.

The runner (and the platforms under it) emit :class:`PhaseEvent` values to an :data:`EventSink`;
the command line turns them into a live table or timestamped lines (``harness.cli.progress``), a
library caller (the publishing pipeline, the benchmarks) records or ignores them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Phase(StrEnum):
    """Where one image is in its certification."""

    QUEUED = "queued"
    INSPECT = "inspect"
    BOOT = "boot"
    SETTLE = "settle"
    CHECKS = "checks"
    TEARDOWN = "teardown"
    FAILED = "failed"
    """A phase failed on infrastructure (the detail says which and why; a retry may follow)."""
    KEPT = "kept"
    """The machine was left running (``--keep``); the detail says how to reach and stop it."""
    NOTICE = "notice"
    """Something the user should know that is not a phase change (e.g. TCG instead of KVM)."""
    DONE = "done"
    """The image has its verdict (the detail names it)."""


@dataclass(frozen=True)
class PhaseEvent:
    """One thing that happened to one image."""

    image: Path
    phase: Phase
    detail: str = ""


EventSink = Callable[[PhaseEvent], None]
"""Receives every event; called from worker threads when images are certified in parallel."""


def ignore_events(_event: PhaseEvent) -> None:
    """The sink for callers that do not show progress."""
