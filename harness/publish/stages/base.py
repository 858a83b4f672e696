"""What every stage gets (:class:`StageContext`) and is (:class:`StageRunner`).

A stage is idempotent: it may run again after its worker died (same work directory, same
inputs) and must then produce the same result without doubling effects it cannot undo.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from harness.publish.core import PlanImage
from harness.publish.offer import FieldProblem, Offer
from harness.publish.outcome import Outcome
from harness.publish.settings import PublishSettings


class StageLog:
    """The stage's log file (``stage.log`` in its work directory), secrets masked."""

    def __init__(self, path: Path, mask: Callable[[str], str]) -> None:
        self.path = path
        self._mask = mask
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {self._mask(line)}\n")


@dataclass
class StageContext:
    """One run of one stage of one request."""

    offer: Offer
    problems: tuple[FieldProblem, ...]
    emails: tuple[str, ...]
    number: int
    attempt: int
    settings: PublishSettings
    work_dir: Path
    log: StageLog
    canceled: threading.Event
    """Set when the request was canceled or the claim lost: stop soon, the outcome is dropped."""
    report_progress: Callable[[int], None]

    def plan_images(self) -> list[PlanImage]:
        """Every plan version that names a local file (URIs are reported by Certification)."""
        return [
            PlanImage(plan.id, image.version, image.path, plan.generation, self.offer.id)
            for plan in self.offer.plans
            for image in plan.images
            if image.path is not None
        ]

    def stage_dir(self, stage_value: str) -> Path:
        """Another stage's work directory of the same request (its artifacts)."""
        return self.work_dir.parent / stage_value


class StageRunner(Protocol):
    def run(self, ctx: StageContext) -> Outcome: ...
