"""The ``pages-from-url`` strategy: each region pulls the data pieces from the first region's blob.

The destination is created, then ``upload_pages_from_url`` is called for every data piece
(≤ 4 MiB) with a read SAS of the source blob. :func:`probe_pages_from_url` tries it on a
512-byte scratch blob first, so ``auto`` does not start an upload the service cannot do (Azurite
answers 501).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.replication.blob import STATE_INCOMPLETE, PageBlob, blob_client
from harness.replication.config import Region
from harness.replication.redaction import short_error
from harness.replication.sas import source_sas_url
from harness.replication.server import NO_SAS
from harness.replication.strategy import Delivery, Job, Sent, Slot, StrategyFailed


def pages_from_url(
    dest: PageBlob,
    source_url: str,
    size: int,
    pieces: Sequence[tuple[int, int]],
    metadata: dict[str, str],
    *,
    threads: int,
) -> None:
    """Create ``dest`` and Put Page From URL every piece; a failure raises StrategyFailed."""
    dest.create_page_blob(size, metadata=metadata)

    def put(piece: tuple[int, int]) -> None:
        offset, length = piece
        dest.upload_pages_from_url(source_url, offset=offset, length=length, source_offset=offset)

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(put, pieces))
    except Exception as exc:
        raise StrategyFailed(short_error(exc)) from None


def probe_pages_from_url(source: Region, dest: Region) -> str | None:
    """Try Put Page From URL between two regions on 512-byte scratch blobs.

    Returns None if it works, else the reason. The scratch blobs sit in the regions' containers
    (known to exist and be writable, as replication made them) and are deleted afterwards.
    """
    name = f"vmcert-probe-{uuid.uuid4().hex[:12]}.vhd"
    blobs: list[PageBlob] = []
    try:
        sblob = blob_client(source, name)
        blobs.append(sblob)
        dblob = blob_client(dest, name)
        blobs.append(dblob)
        sblob.create_page_blob(512)
        sblob.upload_page(b"\1" * 512, offset=0, length=512)
        url = source_sas_url(source, sblob)
        if url is None:
            return "no SAS can be made for the source account"
        dblob.create_page_blob(512)
        dblob.upload_pages_from_url(url, offset=0, length=512, source_offset=0)
        return None
    except Exception as exc:
        return short_error(exc)
    finally:
        for blob in blobs:
            with contextlib.suppress(Exception):
                blob.delete_blob()


@dataclass(frozen=True)
class PagesFromUrl:
    """Put Page From URL every data piece of ``source_url`` into each slot."""

    source_url: str | None
    """A read SAS URL of the source blob; None when none could be made (every slot fails)."""
    name: str = "pages-from-url"

    def send(self, job: Job, slots: Sequence[Slot]) -> Sent:
        """Fill each slot in turn; the first refused piece fails that slot."""
        sent = Sent()
        for slot in slots:
            if self.source_url is None:
                sent.deliveries.append(Delivery(error=NO_SAS))
                continue
            slot.started = time.monotonic()
            job.progress.start(slot.region.name, job.size, self.name)
            try:
                pages_from_url(
                    slot.blob,
                    self.source_url,
                    job.size,
                    job.pieces,
                    job.metadata(STATE_INCOMPLETE),
                    threads=job.threads,
                )
            except StrategyFailed as exc:
                sent.deliveries.append(Delivery(error=str(exc)))
                continue
            sent.deliveries.append(Delivery())
        return sent
