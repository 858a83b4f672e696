"""The ``stream`` strategy: read each data piece of the image once and Put Page it to every slot.

Each slot's blob is created, or resumed when its metadata says ``incomplete`` for this very
content and a journal of acknowledged pieces exists (trusted only where the service really holds
pages). Then one :func:`~harness.replication.fanout.fan_out` sends the pieces to all slots at
once, so N regions cost one read of the image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from harness.replication.blob import (
    META_DIGEST,
    META_STATE,
    STATE_INCOMPLETE,
    blob_state,
    covered,
    page_ranges,
)
from harness.replication.fanout import PageTarget, fan_out
from harness.replication.journal import Journal
from harness.replication.redaction import short_error
from harness.replication.strategy import Delivery, Job, Sent, Slot


def prepare(job: Job, slot: Slot) -> PageTarget:
    """Create the slot's blob, or resume it from its journal; the target to fan out to."""
    record = slot.record
    journal = Journal(
        slot.region.endpoint, slot.region.container, record.blob, job.size, job.digest,
        job.fingerprint,
    )  # fmt: skip
    done = journal.load()
    state = blob_state(slot.blob)
    resumable = (
        done
        and state is not None
        and state[0] == job.size
        and state[1].get(META_DIGEST) == job.digest
        and state[1].get(META_STATE) == STATE_INCOMPLETE
    )
    if resumable:
        ranges = page_ranges(slot.blob)
        journal.done = {i for i in done if i < len(job.pieces) and covered(ranges, *job.pieces[i])}
    else:
        journal.discard()
        slot.blob.create_page_blob(job.size, metadata=job.metadata(STATE_INCOMPLETE))
    return PageTarget(region=slot.region.name, blob=slot.blob, journal=journal)


@dataclass(frozen=True)
class Stream:
    """Fan the image's pieces out to every slot from one read."""

    name: str = "stream"

    def send(self, job: Job, slots: Sequence[Slot]) -> Sent:
        """Prepare every slot, then one fan-out; a failed slot stops receiving, others go on."""
        targets: list[PageTarget] = []
        for slot in slots:
            slot.started = time.monotonic()
            targets.append(prepare(job, slot))
            job.progress.start(slot.region.name, job.data_bytes, self.name)
        stats = fan_out(
            job.image,
            job.pieces,
            targets,
            threads=job.threads,
            progress=job.progress.advance,
            rate_limit=job.rate_limit,
        )
        sent = Sent(source_bytes_read=stats.source_bytes_read)
        for slot, target in zip(slots, targets, strict=True):
            record = slot.record
            record.send_s = round(record.send_s + stats.seconds, 3)
            record.bytes_sent += target.bytes_sent
            record.bytes_resumed = target.bytes_resumed
            error = None if target.error is None else short_error(target.error)
            sent.deliveries.append(Delivery(error=error))
        return sent
