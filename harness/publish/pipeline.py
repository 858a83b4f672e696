"""The pipeline in one object: store, stage worker, in-process executor, ticker, mailer.

The CLI (and later the web console) talk to this facade; stage work happens on the executor's
threads and is recorded in the store, so another process can watch, and a restarted process
resumes what a killed one left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.publish.executor import Executor, InProcessExecutor
from harness.publish.model import Stage
from harness.publish.notify import Mailer, mailer_for
from harness.publish.offer import OfferCheck, load_offer
from harness.publish.settings import PublishSettings
from harness.publish.stages.base import StageRunner
from harness.publish.store import Store, open_store
from harness.publish.ticker import Ticker, wait_idle
from harness.publish.views import RequestView
from harness.publish.worker import StageWorker


class Pipeline:
    def __init__(
        self,
        settings: PublishSettings,
        stages: Mapping[Stage, StageRunner],
        *,
        store: Store | None = None,
        mailer: Mailer | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or open_store(settings)
        self.worker = StageWorker(self.store, settings, stages)
        self.executor = executor or InProcessExecutor(self.worker.execute, settings.workers)
        self.ticker = Ticker(
            self.store, self.executor, mailer or mailer_for(settings), settings, self.worker.owner
        )

    def check(self, path: Path) -> OfferCheck:
        check = load_offer(path)
        for secret in check.offer.secrets():
            self.settings.masker.add(secret)
        return check

    def publish(self, path: Path, *, actor: str, emails: Sequence[str] = ()) -> RequestView:
        """A new publish request for the offer file at ``path``."""
        offer = self.check(path.resolve()).offer
        return self.store.publish(offer, actor=actor, emails=emails or offer.notification_emails)

    def settle(self, offer_id: str, timeout: float) -> bool:
        """Run stages until the offer's request waits for a person or has ended."""
        return wait_idle(self.ticker, lambda: not self.store.pending(offer_id), timeout)

    def close(self) -> None:
        self.executor.shutdown()
        self.ticker.deliver()
        self.store.close()
