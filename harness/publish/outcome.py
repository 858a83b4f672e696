"""What a stage returns: complete, failed, try again later, or wait for a person.

A stage never waits days inside a worker: it returns :class:`RetryLater` (an infrastructure
hiccup, tried again at a due time by the ticker) or :class:`WaitForInput` (nothing to do until a
person acts), and the worker is free at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Artifact:
    """A file a stage produced (a report, a log, the product page)."""

    kind: str
    path: Path


@dataclass(frozen=True)
class Complete:
    messages: tuple[str, ...] = ()
    artifacts: tuple[Artifact, ...] = ()


@dataclass(frozen=True)
class Failed:
    """The stage failed for a reason the publisher must fix; ``message`` is shown and e-mailed."""

    message: str
    details: tuple[str, ...] = ()
    """Further lines (each failing check, each field problem)."""
    artifacts: tuple[Artifact, ...] = ()
    attachment: Path | None = None
    """A file to attach to the failure e-mail (the certification report)."""


@dataclass(frozen=True)
class RetryLater:
    """An infrastructure error: try again after ``delay`` seconds (the settings' default when
    ``None``); after the retry limit it becomes :class:`Failed` with ``message``."""

    message: str
    delay: float | None = None


@dataclass(frozen=True)
class WaitForInput:
    """Nothing to do until a person acts (the notification e-mail address)."""

    message: str


Outcome = Complete | Failed | RetryLater | WaitForInput
