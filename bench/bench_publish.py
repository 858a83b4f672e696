"""Benchmark: the sample offer from Publish to Live on the embedded defaults, one real run.

Prints, from one run:
  * wall time per stage (from the stage's recorded start to its end);
  * the core's work: the seconds spent inside certification (``harness.runner.certify``: inspect,
    boot, checks, reports), replication (``replicate_image``: send and verify) and the preview
    deployment (read back, boot, SSH), timed around the adapter calls;
  * the pipeline's own overhead: the run's wall time minus that work (database, leases, ticker
    hand-offs, Validate, Packaging, e-mail), as a share of the run (target under 5 %); per
    stage, its wall time minus the core work inside it, and the time between stages.

The sign-off is given (``go-live``) as soon as the request waits for it, so no human time is in
the run. The good test image is built or reused from the cache (``vmcert images build``); the
QEMU boots run under the shared e2e lock (``/tmp/vmcert-e2e.lock``; set ``VMCERT_E2E_LOCK_HELD=1``
when the caller already holds it). Data, state and the Azurite instance live in a temporary
directory, removed at the end. Takes a few minutes under TCG. Exit status 1 when the request did
not reach Live or the overhead is over the target.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.publish.adapters import CoreCertifier, CorePreviewVerifier, CoreReplicator
from harness.publish.core import (
    CertificationVerdict,
    Certifier,
    PlanImage,
    PreviewCheck,
    PreviewVerifier,
    Replica,
    Replicator,
)
from harness.publish.model import STAGES, RequestStatus, Stage, StepStatus
from harness.publish.pipeline import Pipeline
from harness.publish.settings import load_settings
from harness.publish.stages import stage_table
from harness.publish.template import write_template
from harness.publish.views import RequestView

OFFER = "contoso-vm"
LOCK = Path("/tmp/vmcert-e2e.lock")
NAMES = {info.stage: info.name for info in STAGES}


@dataclass
class CoreClock:
    """Seconds spent inside the core calls, by kind."""

    seconds: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, started: float) -> None:
        with self.lock:
            self.seconds[kind] = self.seconds.get(kind, 0.0) + time.monotonic() - started


@dataclass
class TimedCertifier:
    inner: Certifier
    clock: CoreClock

    def certify(
        self, images: Sequence[PlanImage], run_dir: Path, cancel: threading.Event
    ) -> CertificationVerdict:
        started = time.monotonic()
        try:
            return self.inner.certify(images, run_dir, cancel)
        finally:
            self.clock.add("certification", started)


@dataclass
class TimedReplicator:
    inner: Replicator
    clock: CoreClock

    def replicate(
        self,
        images: Sequence[PlanImage],
        regions: Sequence[str],
        storage_config: Path | None,
        work_dir: Path,
        cancel: threading.Event,
        approvals: Mapping[Path, Path],
    ) -> tuple[Replica, ...]:
        started = time.monotonic()
        try:
            return self.inner.replicate(
                images, regions, storage_config, work_dir, cancel, approvals
            )
        finally:
            self.clock.add("replication", started)


@dataclass
class TimedVerifier:
    inner: PreviewVerifier
    clock: CoreClock

    def verify(
        self, replica: Replica, storage_config: Path | None, work_dir: Path, cancel: threading.Event
    ) -> PreviewCheck:
        started = time.monotonic()
        try:
            return self.inner.verify(replica, storage_config, work_dir, cancel)
        finally:
            self.clock.add("preview deployment", started)


CORE_STAGE = {
    "certification": Stage.CERTIFICATION,
    "replication": Stage.PROVISIONING,
    "preview deployment": Stage.PREVIEW,
}
"""Which stage each kind of core work runs in."""


def main() -> int:
    from harness.replication import azurite
    from images.recipe import build_test_image

    root = Path(tempfile.mkdtemp(prefix="vmcert-bench-publish-"))
    os.environ["VMCERT_DATA_DIR"] = str(root / "data")
    os.environ["VMCERT_STATE_DIR"] = str(root / "state")
    for name in ("VMCERT_PUBLISH_SETTINGS", "VMCERT_PUBLISH_DB", "VMCERT_STORAGE_CONFIG"):
        os.environ.pop(name, None)
    try:
        with open(LOCK, "a") as lock:
            if not os.environ.get("VMCERT_E2E_LOCK_HELD"):  # set by a caller already holding it
                fcntl.flock(lock, fcntl.LOCK_EX)
            image = build_test_image("good")
            offer_dir = root / "offer"
            write_template(offer_dir)
            target = offer_dir / "images" / "contoso-standard-1.0.0.vhd"
            target.parent.mkdir(exist_ok=True)
            target.symlink_to(image)

            settings = load_settings()
            clock = CoreClock()
            stages = stage_table(
                TimedCertifier(CoreCertifier(), clock),
                TimedReplicator(CoreReplicator(), clock),
                TimedVerifier(CorePreviewVerifier(), clock),
            )
            pipeline = Pipeline(settings, stages)
            try:
                started = time.monotonic()
                pipeline.publish(offer_dir / "offer.toml", actor="bench")
                pipeline.settle(OFFER, 3600)
                waiting = pipeline.store.request(OFFER)
                if waiting is not None and waiting.status is RequestStatus.WAITING:
                    pipeline.store.go_live(OFFER, actor="bench")
                    pipeline.settle(OFFER, 600)
                wall = time.monotonic() - started
                request = pipeline.store.request(OFFER)
            finally:
                pipeline.close()
                azurite.down()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert request is not None
    return report(request, image.name, clock, wall)


def report(request: RequestView, image: str, clock: CoreClock, wall: float) -> int:
    """Print the figures of one run; 0 when it reached Live with the overhead under target."""
    print(f"publish bench: sample offer, image {image}, Publish -> Live on the embedded")
    print("defaults (SQLite, outbox, Azurite: 2 regions), sign-off given at once\n")
    core_in = {stage: 0.0 for stage in NAMES}
    for kind, seconds in clock.seconds.items():
        core_in[CORE_STAGE[kind]] += seconds
    print(f"{'stage':<42} {'wall s':>8} {'core s':>8} {'own s':>8}")
    staged = 0.0
    for view in request.stages:
        if view.started_at is None or view.finished_at is None:
            print(f"{NAMES[view.stage]:<42} {'-':>8}  ({view.status.value})")
            continue
        seconds = (view.finished_at - view.started_at).total_seconds()
        staged += seconds
        core = core_in[view.stage]
        print(f"{NAMES[view.stage]:<42} {seconds:>8.2f} {core:>8.2f} {seconds - core:>8.2f}")
    print(f"{'between stages (hand-offs, settle)':<42} {wall - staged:>8.2f} {0.0:>8.2f}")
    core = sum(clock.seconds.values())
    print()
    for kind, seconds in clock.seconds.items():
        print(f"core: {kind:<36} {seconds:>8.2f}")
    overhead = wall - core
    print(f"\nrun wall time (Publish -> Live)            {wall:>8.2f}")
    print(f"core work                                  {core:>8.2f}")
    print(f"pipeline overhead                          {overhead:>8.2f}  ({overhead / wall:.2%})")
    print("target: overhead under 5 % of the run")
    if request.status is not RequestStatus.SUCCEEDED:
        print(f"\nthe request did not reach Live: {request.status.value}")
        for view in request.stages:
            for message in view.messages if view.status is StepStatus.BLOCKED else ():
                print(f"  {NAMES[view.stage]}: {message.text}")
        return 1
    return 0 if overhead / wall < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
