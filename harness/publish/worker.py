"""Running one claimed stage: context, heartbeat, outcome.

:meth:`StageWorker.execute` is what any executor calls with a stage-run id: it claims the run
(nothing happens if another worker holds it), rebuilds the stage's inputs from the request's
snapshot of the offer file, keeps the lease alive while the stage works, and records the outcome.
Errors become outcomes: an infrastructure error is tried again later, a bug fails the stage with
its message (the traceback goes to the stage log).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path

from harness.errors import InfraError, InputError, VmcertError
from harness.publish.model import Stage
from harness.publish.offer import parse_offer
from harness.publish.outcome import Failed, Outcome, RetryLater
from harness.publish.settings import PublishSettings
from harness.publish.stages.base import StageContext, StageLog, StageRunner
from harness.publish.store import Claim, Store


def owner_id() -> str:
    """``host:pid:token``: who holds a claim (the token tells a reused pid apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_is_dead(owner: str, me: str) -> bool:
    """True when ``owner`` is a worker process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or owner == me:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # an earlier worker object of this very process (its token differs)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class StageWorker:
    """Executes stage runs for one process."""

    def __init__(
        self, store: Store, settings: PublishSettings, stages: Mapping[Stage, StageRunner]
    ) -> None:
        self.store = store
        self.settings = settings
        self.stages = stages
        self.owner = owner_id()

    def execute(self, run_id: int) -> bool:
        """Claim and run one stage run; ``False`` when it was not ours to run."""
        claim = self.store.claim(run_id, self.owner)
        if claim is None:
            return False
        canceled = threading.Event()
        progress = _Progress()
        ctx = self._context(claim, canceled, progress)
        ctx.log.write(f"stage {claim.stage.value} attempt {claim.attempt} by {self.owner}")
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat,
            args=(claim, stop, canceled, progress),
            name="vmcert-lease",
            daemon=True,
        )
        beat.start()
        try:
            outcome = self._run(claim, ctx)
        finally:
            stop.set()
            beat.join()
        ctx.log.write(f"outcome: {type(outcome).__name__}")
        return self.store.finish(claim, outcome)

    def _run(self, claim: Claim, ctx: StageContext) -> Outcome:
        runner = self.stages.get(claim.stage)
        if runner is None:
            return Failed(f"no runner for the stage {claim.stage.value} in this vmcert")
        try:
            return runner.run(ctx)
        except InfraError as exc:
            return RetryLater(str(exc))
        except (InputError, VmcertError) as exc:
            return Failed(str(exc))
        except Exception as exc:  # a bug: fail the stage visibly rather than loop on it
            ctx.log.write(traceback.format_exc())
            return Failed(f"internal error in {claim.stage.value}: {type(exc).__name__}: {exc}")

    def _heartbeat(
        self,
        claim: Claim,
        stop: threading.Event,
        canceled: threading.Event,
        progress: _Progress,
    ) -> None:
        interval = max(0.05, self.settings.lease_seconds / 3)
        while not stop.wait(interval):
            try:
                if not self.store.heartbeat(claim, progress.value):
                    canceled.set()
                    return
            except Exception:  # the database blinked; the next beat tries again
                continue

    def _context(
        self, claim: Claim, canceled: threading.Event, progress: _Progress
    ) -> StageContext:
        source = Path(claim.source_path) if claim.source_path else None
        base = source.parent if source is not None else Path.cwd()
        check = parse_offer(claim.offer_text, base_dir=base, source=source)
        for secret in check.offer.secrets():
            self.settings.masker.add(secret)
        work_dir = self.settings.work_dir(claim.offer_id, claim.number, claim.stage)
        work_dir.mkdir(parents=True, exist_ok=True)
        return StageContext(
            offer=check.offer,
            problems=check.problems,
            emails=claim.emails,
            number=claim.number,
            attempt=claim.attempt,
            settings=self.settings,
            work_dir=work_dir,
            log=StageLog(work_dir / "stage.log", self.settings.masker.mask),
            canceled=canceled,
            report_progress=progress.set,
        )


class _Progress:
    """The stage's last reported percentage, sent with the next heartbeat."""

    def __init__(self) -> None:
        self.value: int | None = None

    def set(self, percent: int) -> None:
        self.value = percent
