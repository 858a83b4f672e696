"""Replicate one approved image to page blobs in several regions, every replica verified.

:func:`replicate_image` checks the approval, opens the storage, then per run:

1. pre-check: a region whose blob already holds this content, verified, is skipped (with
   ``verify_only`` that is all that happens);
2. plan (:mod:`~harness.replication.auto`): which regions one ``stream`` fan-out fills and which
   are served from the first region's blob, each along its fallbacks;
3. send with the :class:`~harness.replication.strategy.Strategy` of each;
4. verify each region: size and the digest recomputed from its page ranges must match the
   image's; the blob's metadata state becomes ``verified`` or ``failed``.

The image's extents and sparse digest come from its :class:`~images.candidate.Candidate`,
computed once: given a Candidate, replication reads the image only to send its data. Given a
path, one pass computes both (:func:`scan_image`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.errors import USER_ERRORS, InfraError, InputError
from harness.replication import auto
from harness.replication.approval import check_approval
from harness.replication.blob import (
    META_DIGEST,
    META_STATE,
    STATE_FAILED,
    STATE_VERIFIED,
    blob_client,
    blob_state,
    remote_digest,
)
from harness.replication.config import Region, StorageConfig
from harness.replication.fanout import MAX_PUT
from harness.replication.journal import discard_journals, ranges_fingerprint
from harness.replication.pages_from_url import PagesFromUrl
from harness.replication.record import (
    Attempt,
    AttemptOutcome,
    RegionRecord,
    RegionState,
    ReplicationRecord,
)
from harness.replication.redaction import install_redaction, redact, short_error
from harness.replication.sas import source_sas_url
from harness.replication.server import ServerCopy
from harness.replication.source import ImageData, check_unchanged, scan_image
from harness.replication.storage import open_storage
from harness.replication.strategy import (
    Job,
    NullProgress,
    ReplicationProgress,
    Slot,
    Strategy,
)
from harness.replication.stream import Stream
from images.extents import chunked

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------


def replicate_image(
    image: Path | ImageData,
    regions: list[str],
    *,
    config: StorageConfig | Path | None = None,
    strategy: str = "auto",
    approval_report: Path | None = None,
    force: bool = False,
    progress: ReplicationProgress | None = None,
    threads: int = 8,
    offer: str | None = None,
    plan: str = "default",
    version: str | None = None,
    verify_only: bool = False,
    trust_metadata: bool = False,
    copy_deadline_s: float = 3600.0,
    limit_rate: float | None = None,
) -> ReplicationRecord:
    """Replicate ``image`` to ``regions`` and verify every replica; returns the record.

    ``image`` is the image's :class:`~images.candidate.Candidate` (its extents and digest are
    used as they are: the image file is then read only to send its data) or a path, whose
    extents and digest are computed in one pass (:func:`scan_image`). A Candidate whose file
    changed size since is refused.

    ``approval_report`` must certify the image's sparse digest unless ``force`` (noted in the
    record). Raises :class:`ApprovalError`/:class:`InputError` (exit 2) for bad input and
    :class:`InfraError` (exit 3) when storage is unreachable; region failures are in the record
    (``record.ok`` / ``record.exit_code``), not raised. ``limit_rate`` caps uploads (bytes/s).
    """
    install_redaction()
    if strategy not in auto.STRATEGIES:
        choices = ", ".join(auto.STRATEGIES)
        raise InputError(f"unknown strategy {strategy!r}; choose one of {choices}")
    if not regions:
        raise InputError("no target region; pass --to REGION (one or more)")
    if len(set(regions)) != len(regions):
        raise InputError(f"region listed twice in --to: {', '.join(regions)}")
    if threads < 1:
        raise InputError("--threads must be at least 1")
    if isinstance(image, Path):
        source: ImageData = scan_image(image)
    else:
        check_unchanged(image)
        source = image
    path, extents, digest = source.path, source.extents, source.sparse_digest
    if extents.size % 512:
        raise InputError(
            f"{path}: size {extents.size} is not a multiple of 512; a page blob (and an Azure "
            "VHD) must be N MiB + 512 bytes: convert it with "
            "qemu-img convert -O vpc -o subformat=fixed,force_size"
        )
    approval = check_approval(approval_report, digest, force=force)
    record = ReplicationRecord(
        image={
            "path": str(path),
            "size": extents.size,
            "data_bytes": extents.data_bytes,
            "sparse_digest": digest,
        },
        approval=approval,
        strategy=strategy,
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    pieces = tuple(chunked(extents.ranges, max_len=MAX_PUT, align=512, size=extents.size))
    job = Job(
        image=path,
        size=extents.size,
        digest=digest,
        pieces=pieces,
        fingerprint=ranges_fingerprint(pieces),
        threads=threads,
        progress=progress or NullProgress(),
        rate_limit=limit_rate,
    )
    names = {
        "offer": offer or path.stem,
        "plan": plan,
        "version": version or digest[:12],
        "digest": digest,
        "image": path.name,
    }
    started = time.monotonic()
    try:
        with open_storage(config, regions) as storage:
            record.storage = storage.source
            run = _Run(record, job, copy_deadline_s=copy_deadline_s)
            run.connect(storage.select(regions), names)
            pending = run.precheck(verify_only=verify_only, trust_metadata=trust_metadata)
            if not verify_only and pending:
                run.send(strategy, pending)
    except USER_ERRORS:  # input, config, infra errors and Interrupted keep their exit codes
        raise
    except Exception as exc:
        raise InfraError(f"replication failed: {short_error(exc)}") from None
    finally:
        record.duration_s = time.monotonic() - started
    return record


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


class _Run:
    """The regions of one :func:`replicate_image` call, from connecting to verifying."""

    def __init__(self, record: ReplicationRecord, job: Job, *, copy_deadline_s: float) -> None:
        self.record = record
        self.job = job
        self.copy_deadline_s = copy_deadline_s
        self.slots: list[Slot] = []

    def connect(self, regions: list[Region], names: dict[str, str]) -> None:
        """A client per region; an unreachable region fails alone, none reachable is an error."""
        pool = 2 * self.job.threads + 8
        for region in regions:
            name = region.blob_name(**names)
            rec = RegionRecord(
                region=region.name, endpoint=region.endpoint, container=region.container, blob=name
            )
            self.record.regions.append(rec)
            try:
                blob = blob_client(region, name, pool=pool)
            except Exception as exc:  # this region is unreachable; the others go on
                rec.fail(f"storage unreachable: {short_error(exc)}")
                self.job.progress.finish(region.name, rec.state)
                continue
            self.slots.append(Slot(region, blob, rec))
        if not self.slots:
            raise InfraError(
                "no region's storage is reachable: "
                + "; ".join(f"{r.region}: {r.error}" for r in self.record.regions)
            )

    def precheck(self, *, verify_only: bool, trust_metadata: bool) -> list[Slot]:
        """Skip (or, verify-only, judge) regions that already hold this content; the rest."""
        job = self.job
        pending: list[Slot] = []
        for slot in self.slots:
            rec = slot.record
            try:
                state = blob_state(slot.blob)
            except Exception as exc:
                rec.fail(f"pre-check: {short_error(exc)}")
                continue
            if state is None:
                if verify_only:
                    rec.state, rec.precheck = RegionState.MISSING, "blob does not exist"
                    continue
                pending.append(slot)
                continue
            blob_size, meta = state
            if blob_size != job.size or meta.get(META_DIGEST) != job.digest:
                rec.precheck = (
                    f"blob differs (size {blob_size}, digest {str(meta.get(META_DIGEST))[:12]})"
                )
                if verify_only:
                    rec.fail(rec.precheck)
                else:
                    pending.append(slot)
                continue
            if meta.get(META_STATE) != STATE_VERIFIED and not verify_only:
                rec.precheck = f"blob state {meta.get(META_STATE)!r}"
                pending.append(slot)
                continue
            if trust_metadata and not verify_only:
                rec.state, rec.digest = RegionState.SKIPPED, job.digest
                rec.precheck = "verified metadata (not recomputed)"
                continue
            t0 = time.monotonic()
            try:
                remote = remote_digest(slot.blob, threads=job.threads)
            except Exception as exc:
                rec.fail(f"pre-check digest: {short_error(exc)}")
                continue
            rec.digest = remote.digest
            rec.duration_s = round(time.monotonic() - t0, 3)
            if remote.digest == job.digest:
                rec.state = RegionState.VERIFIED if verify_only else RegionState.SKIPPED
                rec.precheck = "already replicated: size and recomputed digest match"
            else:
                rec.precheck = "digest mismatch: the replica was altered or is corrupt"
                with contextlib.suppress(Exception):
                    slot.blob.set_blob_metadata(job.metadata(STATE_FAILED))
                if verify_only:
                    rec.fail(rec.precheck)
                else:
                    pending.append(slot)
        return pending

    def send(self, strategy: str, pending: list[Slot]) -> None:
        """Plan, fan out to the stream group, then serve the others along their fallbacks."""
        job, primary = self.job, self.slots[0]
        chosen = auto.plan(strategy, primary, pending)
        stream = Stream()
        if chosen.stream_group:
            sent = stream.send(job, chosen.stream_group)
            self.record.source_bytes_read += sent.source_bytes_read
            for slot, delivery in zip(chosen.stream_group, sent.deliveries, strict=True):
                attempt: Attempt = {
                    "strategy": stream.name,
                    "outcome": AttemptOutcome.FAILED if delivery.error else AttemptOutcome.SERVED,
                }
                if delivery.error is not None:
                    slot.record.error = attempt["reason"] = delivery.error
                slot.record.attempts.append(attempt)
            # Verify the regions side by side (one Azurite is the bottleneck, Azure regions are
            # not).
            share = max(2, job.threads // len(chosen.stream_group))
            with ThreadPoolExecutor(max_workers=len(chosen.stream_group)) as verifiers:
                list(
                    verifiers.map(
                        lambda s: self.verify(s, stream.name, threads=share), chosen.stream_group
                    )
                )
        if not chosen.others:
            return
        if not primary.record.ok:
            for slot in chosen.others:
                slot.record.fail(
                    f"source region {primary.region.name} failed; nothing to copy from"
                )
            return
        strategies = self._strategies(primary)
        for slot in chosen.others:
            self._serve(slot, [strategies[name] for name in chosen.fallbacks[slot.region.name]])

    def _strategies(self, primary: Slot) -> dict[str, Strategy]:
        """The strategies by name, the server-side ones reading from ``primary``'s blob."""
        # Read-only and short-lived: it only has to outlive the slowest copy.
        ttl = dt.timedelta(seconds=self.copy_deadline_s) + dt.timedelta(minutes=15)
        source_url = None
        try:
            source_url = source_sas_url(primary.region, primary.blob, ttl=ttl)
        except Exception as exc:
            log.warning(
                "region %s: cannot make a read SAS: %s", primary.region.name, short_error(exc)
            )
        return {
            "server": ServerCopy(source_url, deadline_s=self.copy_deadline_s),
            "pages-from-url": PagesFromUrl(source_url),
            "stream": Stream(),
        }

    def _serve(self, slot: Slot, fallbacks: list[Strategy]) -> None:
        """Try each strategy on one region until one serves it, then verify it."""
        rec = slot.record
        for strategy in fallbacks:
            t0 = time.monotonic()
            sent = strategy.send(self.job, [slot])
            self.record.source_bytes_read += sent.source_bytes_read
            (delivery,) = sent.deliveries
            outcome = AttemptOutcome.SERVED if delivery.error is None else AttemptOutcome.FAILED
            attempt: Attempt
            if delivery.copy_status is None:
                attempt = {"strategy": strategy.name, "outcome": outcome}
            else:  # the copy's status before the outcome: the JSON key order as it always was
                status = delivery.copy_status
                attempt = {"strategy": strategy.name, "copy_status": status, "outcome": outcome}
            if delivery.error is not None:
                attempt["reason"] = redact(delivery.error)
            attempt["seconds"] = round(time.monotonic() - t0, 3)
            rec.attempts.append(attempt)
            if delivery.error is None:
                self.verify(slot, strategy.name, threads=self.job.threads)
                return
        rec.fail(
            "every strategy failed: "
            + "; ".join(f"{a['strategy']}: {a.get('reason')}" for a in rec.attempts)
        )
        self.job.progress.finish(rec.region, rec.state)

    def verify(self, slot: Slot, strategy: str, *, threads: int) -> None:
        """Verify one region: size and recomputed digest; set its metadata state and journal."""
        job, rec = self.job, slot.record
        rec.strategy = strategy
        verify_started = time.monotonic()
        if strategy != "stream":
            rec.send_s = round(verify_started - slot.started, 3)
        if rec.error is not None:
            rec.state = RegionState.FAILED
        else:
            try:
                remote = remote_digest(slot.blob, threads=threads)
            except Exception as exc:
                rec.fail(f"verify: {short_error(exc)}")
            else:
                rec.digest = remote.digest
                if remote.size != job.size:
                    rec.fail(f"blob size {remote.size} != image size {job.size}")
                elif remote.digest != job.digest:
                    rec.fail("digest recomputed from the page ranges does not match the image")
                else:
                    rec.state = RegionState.REPLICATED
            final = STATE_VERIFIED if rec.state is RegionState.REPLICATED else STATE_FAILED
            with contextlib.suppress(Exception):
                slot.blob.set_blob_metadata(job.metadata(final))
        # Verified: the journal is spent. Failed: journaled pieces proved nothing, so the next run
        # re-sends everything to this region (and only to it).
        discard_journals(
            slot.region.endpoint, slot.region.container, rec.blob, job.size, job.digest
        )
        rec.verify_s = round(time.monotonic() - verify_started, 3)
        rec.duration_s = round(time.monotonic() - slot.started, 3)
        job.progress.finish(rec.region, rec.state)
