"""The ``server`` strategy: the service copies the first region's blob into each other region.

``start_copy_from_url`` with a short-lived read-only SAS of the source blob, then
``get_blob_properties`` is polled while the copy is ``pending``, until ``success``, ``failed``,
``aborted`` or a deadline (the copy is then aborted). Nothing is read from the image file.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from harness.replication.blob import STATE_INCOMPLETE, PageBlob
from harness.replication.redaction import short_error
from harness.replication.strategy import Delivery, Job, Sent, Slot, StrategyFailed

NO_SAS = "no read SAS can be made for the source blob"


@dataclass
class CopyOutcome:
    """How a server-side copy ended: ``success``, ``failed``, ``aborted`` or ``deadline``."""

    status: str
    description: str | None
    seconds: float
    polls: int


def server_copy(
    dest: PageBlob,
    source_url: str,
    *,
    metadata: dict[str, str] | None = None,
    deadline_s: float = 3600.0,
    poll_s: float = 2.0,
) -> CopyOutcome:
    """Start Copy Blob into ``dest`` and poll its status until it ends or the deadline passes.

    At the deadline a still-pending copy is aborted (``abort_copy``) and reported as
    ``deadline``. Errors starting the copy raise :class:`StrategyFailed`.
    """
    started = time.monotonic()
    try:
        props = dest.start_copy_from_url(source_url, metadata=metadata)
    except Exception as exc:
        raise StrategyFailed(short_error(exc)) from None
    copy_id = str(props.get("copy_id") or "")
    status = str(props.get("copy_status") or "pending")
    copying = time.monotonic()  # the deadline is the copy's own time, from its acceptance
    description: str | None = None
    polls = 0
    while status == "pending":
        if time.monotonic() - copying >= deadline_s:
            with contextlib.suppress(Exception):
                dest.abort_copy(copy_id)
            return CopyOutcome(
                "deadline",
                f"still pending after {deadline_s:g} s; aborted",
                time.monotonic() - started,
                polls,
            )
        time.sleep(poll_s)
        polls += 1
        copy = dest.get_blob_properties().copy
        status = str(copy.status or "pending")
        description = copy.status_description
    return CopyOutcome(status, description, time.monotonic() - started, polls)


@dataclass(frozen=True)
class ServerCopy:
    """Copy Blob from ``source_url`` (the first region's replica) into each slot."""

    source_url: str | None
    """A read SAS URL of the source blob; None when none could be made (every slot fails)."""
    deadline_s: float = 3600.0
    poll_s: float = 2.0
    name: str = "server"

    def send(self, job: Job, slots: Sequence[Slot]) -> Sent:
        """Copy into each slot in turn; a copy that does not end in ``success`` fails its slot."""
        sent = Sent()
        for slot in slots:
            if self.source_url is None:
                sent.deliveries.append(Delivery(error=NO_SAS))
                continue
            slot.started = time.monotonic()
            job.progress.start(slot.region.name, job.size, self.name)
            try:
                outcome = server_copy(
                    slot.blob,
                    self.source_url,
                    metadata=job.metadata(STATE_INCOMPLETE),
                    deadline_s=self.deadline_s,
                    poll_s=self.poll_s,
                )
            except StrategyFailed as exc:
                sent.deliveries.append(Delivery(error=str(exc)))
                continue
            error = None
            if outcome.status != "success":
                error = f"copy {outcome.status}: {outcome.description or ''}".strip()
            sent.deliveries.append(Delivery(error=error, copy_status=outcome.status))
        return sent
