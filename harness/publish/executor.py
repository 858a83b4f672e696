"""The executor interface and the in-process executor (the default).

An executor only runs ``StageWorker.execute(run_id)`` somewhere; which stage, when and by whom
is the store's business (due times, claims, leases). So a scale-out executor on a distributed
engine sends the run id as its task's argument and calls the same ``execute`` in its worker,
with no change to the stages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol


class Executor(Protocol):
    def dispatch(self, run_id: int) -> None:
        """Run the stage run ``run_id`` soon (a no-op if this executor is already running it)."""
        ...

    def busy(self) -> int:
        """Stage runs dispatched and not finished."""
        ...

    def shutdown(self) -> None:
        """Wait for the runs in flight, then stop."""
        ...


class InProcessExecutor:
    """A thread pool in this process; stage work (QEMU, SSH, uploads) mostly waits on I/O."""

    def __init__(self, execute: Callable[[int], bool], workers: int = 2) -> None:
        self._execute = execute
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vmcert-stage")
        self._inflight: set[int] = set()
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []

    def dispatch(self, run_id: int) -> None:
        with self._lock:
            if run_id in self._inflight:
                return
            self._inflight.add(run_id)
        future = self._pool.submit(self._execute, run_id)
        future.add_done_callback(lambda done: self._done(run_id, done))

    def _done(self, run_id: int, future: Future[bool]) -> None:
        with self._lock:
            self._inflight.discard(run_id)
        error = future.exception()
        if error is not None:
            self.errors.append(error)  # the ticker reports it; the lease lets the run resume

    def busy(self) -> int:
        with self._lock:
            return len(self._inflight)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
