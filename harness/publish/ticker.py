"""The ticker: dispatches due stage runs and delivers queued e-mail, every ``tick_seconds``.

Nothing waits inside a worker for a due time: a stage that must wait returns a due time (or waits
for a person) and the ticker picks the run up when it is due, in whichever process runs a ticker.
On each tick, the leases of workers known to be dead are ended so their stages resume at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from harness.publish.errors import DeliveryError
from harness.publish.executor import Executor
from harness.publish.notify import Mailer, build_message
from harness.publish.settings import PublishSettings
from harness.publish.store import Store
from harness.publish.worker import owner_is_dead


class Ticker:
    def __init__(
        self,
        store: Store,
        executor: Executor,
        mailer: Mailer,
        settings: PublishSettings,
        owner: str,
    ) -> None:
        self.store = store
        self.executor = executor
        self.mailer = mailer
        self.settings = settings
        self.owner = owner

    def tick(self) -> int:
        """One round; returns the number of stage runs dispatched."""
        self.store.release_dead(lambda other: owner_is_dead(other, self.owner))
        due = self.store.due_runs()
        for run_id in due:
            self.executor.dispatch(run_id)
        self.deliver()
        return len(due)

    def deliver(self) -> int:
        """Send the queued e-mail; a failed delivery is tried again on a later tick."""
        sent = 0
        for mail in self.store.claim_mail(self.owner):
            message = build_message(mail, self.settings.sender, self.settings.masker)
            try:
                self.mailer.send(message)
            except DeliveryError as exc:
                self.store.mail_done(mail.id, self.mailer.via, error=str(exc))
                continue
            self.store.mail_done(mail.id, self.mailer.via)
            sent += 1
        return sent

    def run(self, stop: threading.Event, until: Callable[[], bool] | None = None) -> None:
        """Tick until ``stop`` is set or ``until()`` holds with nothing in flight."""
        while not stop.is_set():
            self.tick()
            if until is not None and self.executor.busy() == 0 and until():
                self.deliver()
                return
            stop.wait(self.settings.tick_seconds)


def wait_idle(ticker: Ticker, settled: Callable[[], bool], timeout: float) -> bool:
    """Tick until ``settled()`` with nothing in flight, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    stop = threading.Event()
    while time.monotonic() < deadline:
        ticker.tick()
        if ticker.executor.busy() == 0 and settled():
            ticker.deliver()
            return True
        stop.wait(min(ticker.settings.tick_seconds, 0.2))
    return False
