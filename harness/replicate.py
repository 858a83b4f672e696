"""Replicate an approved image to page blobs in several regions, verified by sparse digest.

Strategies (``--strategy``):

``server``
    Upload to the first region, then ``start_copy_from_url`` into each other region with a
    short-lived read-only SAS of that blob, polling ``pending`` until ``success``, ``failed`` or
    ``aborted`` or a deadline (the copy is then aborted).
``pages-from-url``
    Upload to the first region, then ``upload_pages_from_url`` for each data piece (≤ 4 MiB).
``stream``
    Read each data piece of the image once and Put Page it to every region (fan-out).
``auto``
    Per region, try ``server``, then ``pages-from-url``, then ``stream`` and record which served.
    ``server`` is skipped on emulators (Azurite buffers a cross-account copy of the whole blob in
    memory, reference P3) and ``pages-from-url`` is probed with a 512-byte blob first, so regions
    that end up on ``stream`` share one read of the image.

Integrity: the image's sparse digest is stored as blob metadata (``vmcert_sparse_digest``) with a
state (``incomplete`` → ``verified``/``failed``). A region counts as replicated only after the blob
size matches and the digest recomputed from its page ranges matches. A region whose blob is already
verified (size, digest and a recomputed digest) is skipped; a failed one is redone alone; an
interrupted upload resumes from its journal (see :mod:`harness.upload`).

Secrets are scrubbed from records, messages and logs (:mod:`harness.storage_config`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from harness.errors import ExitCode, InfraError, InputError, VmcertError
from harness.storage_config import (
    Region,
    StorageConfig,
    configured_path,
    install_redaction,
    load_config,
    redact,
    redact_obj,
    register_secret,
)
from harness.upload import (
    MAX_PUT,
    META_DIGEST,
    META_SIZE,
    META_STATE,
    STATE_FAILED,
    STATE_INCOMPLETE,
    STATE_VERIFIED,
    FanOutStats,
    Journal,
    PageTarget,
    blob_client,
    covered,
    fan_out,
    page_ranges,
    ranges_fingerprint,
    remote_digest,
)
from images.extents import ExtentMap, chunked, data_extents, sparse_digest

log = logging.getLogger(__name__)

Strategy = Literal["auto", "server", "pages-from-url", "stream"]
STRATEGIES: tuple[str, ...] = ("auto", "server", "pages-from-url", "stream")
RECORD_SCHEMA = "vmcert-replication"
SAS_TTL = dt.timedelta(hours=1)


class ApprovalError(InputError):
    """The image is not approved for replication (exit 2)."""


class StrategyFailed(Exception):
    """A replication strategy could not serve a region; ``auto`` falls back to the next."""


class ReplicationProgress(Protocol):
    """What :func:`replicate_image` reports while it works (all methods thread-safe)."""

    def start(self, region: str, total: int, strategy: str) -> None: ...
    def advance(self, region: str, n: int) -> None: ...
    def finish(self, region: str, state: str) -> None: ...


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass
class RegionRecord:
    """The outcome for one region."""

    region: str
    endpoint: str
    container: str
    blob: str
    state: str = "pending"
    """``replicated``, ``skipped``, ``failed``; with verify-only ``verified`` or ``missing``."""
    strategy: str | None = None
    bytes_sent: int = 0
    bytes_resumed: int = 0
    send_s: float = 0.0
    """Seconds spent writing (upload, fan-out or server copy)."""
    verify_s: float = 0.0
    """Seconds spent recomputing the digest from the blob's page ranges."""
    duration_s: float = 0.0
    digest: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    precheck: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("replicated", "skipped", "verified")


@dataclass
class ReplicationRecord:
    """Everything one replication did; :meth:`to_dict` is the JSON record (secrets redacted)."""

    image: dict[str, Any]
    approval: dict[str, Any]
    strategy: str
    regions: list[RegionRecord] = field(default_factory=list)
    source_bytes_read: int = 0
    started: str = ""
    duration_s: float = 0.0
    storage: str = ""

    @property
    def ok(self) -> bool:
        """True when every region is replicated, skipped or verified."""
        return all(r.ok for r in self.regions)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every region is good, else 1."""
        return ExitCode.OK if self.ok else ExitCode.FAILED

    @property
    def source_reads(self) -> float:
        """How many times the image's data was read for sending (1.0 = once)."""
        data = int(self.image.get("data_bytes") or 0)
        return round(self.source_bytes_read / data, 4) if data else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record, with every secret scrubbed."""
        data = {
            "schema": RECORD_SCHEMA,
            "schema_version": 1,
            "started": self.started,
            "duration_s": round(self.duration_s, 3),
            "storage": self.storage,
            "image": self.image,
            "approval": self.approval,
            "strategy": self.strategy,
            "source_bytes_read": self.source_bytes_read,
            "source_reads": self.source_reads,
            "ok": self.ok,
            "regions": [asdict(r) for r in self.regions],
        }
        return dict(redact_obj(data))

    def write(self, path: Path) -> None:
        """Write the record atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Approval
# ---------------------------------------------------------------------------------------------


def check_approval(report: Path | None, digest: str, *, force: bool) -> dict[str, Any]:
    """Whether the image may be replicated: a certified report entry with its digest, or force.

    Raises :class:`ApprovalError` (exit 2) with one line naming the report and the fix.
    """
    if force:
        return {"approved": False, "forced": True, "note": "replicated with --force, not approved"}
    if report is None:
        raise ApprovalError(
            "not approved: pass --report REPORT.json (a vmcert certify report that certifies this "
            "image) or --force"
        )
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ApprovalError(f"{report}: report file not found; run vmcert certify first") from None
    except (OSError, ValueError) as exc:
        raise ApprovalError(f"{report}: not a readable JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != "vmcert-report":
        raise ApprovalError(f"{report}: not a vmcert report (schema is not 'vmcert-report')")
    if data.get("schema_version") != 1:
        raise ApprovalError(
            f"{report}: unsupported report schema_version {data.get('schema_version')!r}"
        )
    entries = [
        e
        for e in data.get("images", [])
        if isinstance(e, dict)
        and isinstance(e.get("image"), dict)
        and e["image"].get("sparse_digest") == digest
    ]
    if not entries:
        raise ApprovalError(
            f"{report}: no entry for this image (sparse digest {digest[:16]}…); the report is for "
            "other content: certify this image or pass --force"
        )
    certified = [e for e in entries if e.get("verdict") == "certified"]
    if not certified:
        verdict = entries[0].get("verdict")
        raise ApprovalError(
            f"{report}: this image's verdict is {verdict!r}, not 'certified'; fix the failures and "
            "certify again, or pass --force"
        )
    return {
        "approved": True,
        "forced": False,
        "report": str(report),
        "verdict": "certified",
        "report_image_path": certified[0]["image"].get("path"),
    }


# ---------------------------------------------------------------------------------------------
# Storage selection
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_storage(
    config: StorageConfig | Path | None, regions: list[str]
) -> Iterator[StorageConfig]:
    """The storage to use: a config (object or file, or ``$VMCERT_STORAGE_CONFIG``), else Azurite.

    Without a configuration, the instance kept by ``vmcert storage up`` is used (accounts added as
    needed); otherwise a temporary Azurite with a fresh data dir runs for this call only.
    """
    if isinstance(config, StorageConfig):
        yield config
        return
    path = configured_path(config)
    if path is not None:
        yield load_config(path)
        return
    from harness import azurite

    if azurite.running() is not None:
        yield azurite.up(regions).config()
        return
    with azurite.Azurite(regions=list(regions)) as instance:
        yield instance.config()


# ---------------------------------------------------------------------------------------------
# SAS and server-side strategies
# ---------------------------------------------------------------------------------------------


def _account_key(region: Region) -> str | None:
    if region.account_key:
        return region.account_key
    if region.connection_string:
        for part in region.connection_string.split(";"):
            if part.startswith("AccountKey="):
                return part.split("=", 1)[1]
    return None


def source_sas_url(region: Region, blob: Any, *, ttl: dt.timedelta = SAS_TTL) -> str | None:
    """A read-only SAS URL for ``blob`` valid for ``ttl``, or None if the credential can't make one.

    Built from the client's own URL, so the host matches what the service expects (reference P11).
    """
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    now = dt.datetime.now(dt.UTC)
    common: dict[str, Any] = {
        "account_name": region.account_name,
        "container_name": region.container,
        "blob_name": blob.blob_name,
        "permission": BlobSasPermissions(read=True),
        "start": now - dt.timedelta(minutes=5),
        "expiry": now + ttl,
    }
    key = _account_key(region)
    if key:
        sas = generate_blob_sas(account_key=key, **common)
    elif region.credential == "default":
        try:
            from azure.storage.blob import BlobServiceClient

            service = BlobServiceClient(region.endpoint, credential=blob.credential)
            udk = service.get_user_delegation_key(common["start"], common["expiry"])
            sas = generate_blob_sas(user_delegation_key=udk, **common)
        except Exception as exc:
            log.info("region %s: no user delegation key: %s", region.name, exc)
            return None
    elif region.sas_token:
        sas = region.sas_token.lstrip("?")
    else:
        return None
    register_secret(sas)
    return f"{blob.url.split('?', 1)[0]}?{sas}"


@dataclass
class CopyOutcome:
    """How a server-side copy ended: ``success``, ``failed``, ``aborted`` or ``deadline``."""

    status: str
    description: str | None
    seconds: float
    polls: int


def server_copy(
    dest: Any,
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
        props: Any = dest.start_copy_from_url(source_url, metadata=metadata)
    except Exception as exc:
        raise StrategyFailed(_short(exc)) from None
    copy_id = props.get("copy_id")
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


def pages_from_url(
    dest: Any,
    source_url: str,
    size: int,
    pieces: list[tuple[int, int]],
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
        raise StrategyFailed(_short(exc)) from None


def probe_pages_from_url(src_region: Region, src: Any, dst: Any) -> str | None:
    """Try Put Page From URL on a 512-byte scratch blob; None if it works, else the reason."""
    from azure.storage.blob import BlobClient

    name = f"vmcert-probe-{uuid.uuid4().hex[:12]}.vhd"

    def sibling(blob: Any) -> Any:
        return BlobClient.from_blob_url(
            blob.url.split("?", 1)[0].rsplit("/", 1)[0] + "/" + name,
            credential=blob.credential,
            api_version=blob.api_version,
        )

    # Scratch blobs sit next to the real ones: the container is known to exist and be writable.
    sblob, dblob = sibling(src), sibling(dst)
    try:
        sblob.create_page_blob(512)
        sblob.upload_page(b"\1" * 512, offset=0, length=512)
        url = source_sas_url(src_region, sblob)
        if url is None:
            return "no SAS can be made for the source account"
        dblob.create_page_blob(512)
        dblob.upload_pages_from_url(url, offset=0, length=512, source_offset=0)
        return None
    except Exception as exc:
        return _short(exc)
    finally:
        for b in (sblob, dblob):
            with contextlib.suppress(Exception):
                b.delete_blob()


def _short(exc: BaseException) -> str:
    """One redacted line for an exception (Azure errors carry multi-line XML)."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # the SDK's StorageErrorCode enum -> its wire spelling
    status = getattr(exc, "status_code", None)
    prefix = f"HTTP {status} {code}: " if status and code else ""
    return redact(f"{prefix}{line}")[:300]


# ---------------------------------------------------------------------------------------------
# The orchestration
# ---------------------------------------------------------------------------------------------


class _NullProgress:
    def start(self, region: str, total: int, strategy: str) -> None:
        pass

    def advance(self, region: str, n: int) -> None:
        pass

    def finish(self, region: str, state: str) -> None:
        pass


@dataclass
class _Slot:
    region: Region
    blob: Any
    record: RegionRecord
    started: float = 0.0


def _metadata(digest: str, size: int, state: str) -> dict[str, str]:
    return {META_DIGEST: digest, META_SIZE: str(size), META_STATE: state}


def _blob_state(blob: Any) -> tuple[int, dict[str, str]] | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        props = blob.get_blob_properties()
    except ResourceNotFoundError:
        return None
    return int(props.size), dict(props.metadata or {})


def replicate_image(
    image: Path,
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

    ``approval_report`` must certify the image's sparse digest unless ``force`` (noted in the
    record). Raises :class:`ApprovalError`/:class:`InputError` (exit 2) for bad input and
    :class:`InfraError` (exit 3) when storage is unreachable; region failures are in the record
    (``record.ok`` / ``record.exit_code``), not raised. ``limit_rate`` caps uploads (bytes/s).
    """
    install_redaction()
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if not regions:
        raise InputError("no target region; pass --to REGION (one or more)")
    if len(set(regions)) != len(regions):
        raise InputError(f"region listed twice in --to: {', '.join(regions)}")
    if threads < 1:
        raise InputError("--threads must be at least 1")
    image = Path(image)
    extents = data_extents(image)
    if extents.size % 512:
        raise InputError(
            f"{image}: size {extents.size} is not a multiple of 512; a page blob (and an Azure "
            "VHD) must be N MiB + 512 bytes: convert it with "
            "qemu-img convert -O vpc -o subformat=fixed,force_size"
        )
    digest = sparse_digest(image, extents)
    approval = check_approval(approval_report, digest, force=force)
    progress = progress or _NullProgress()
    record = ReplicationRecord(
        image={
            "path": str(image),
            "size": extents.size,
            "data_bytes": extents.data_bytes,
            "sparse_digest": digest,
        },
        approval=approval,
        strategy=strategy,
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    started = time.monotonic()
    fields = {
        "offer": offer or image.stem,
        "plan": plan,
        "version": version or digest[:12],
        "digest": digest,
        "image": image.name,
    }
    try:
        with open_storage(config, regions) as storage:
            record.storage = storage.source
            selected = storage.select(regions)
            _run(
                record,
                selected,
                image,
                extents,
                digest,
                fields,
                strategy,
                progress,
                threads,
                verify_only=verify_only,
                trust_metadata=trust_metadata,
                copy_deadline_s=copy_deadline_s,
                limit_rate=limit_rate,
            )
    except VmcertError:  # input, config, infra errors and Interrupted keep their exit codes
        raise
    except Exception as exc:
        raise InfraError(f"replication failed: {_short(exc)}") from None
    finally:
        record.duration_s = time.monotonic() - started
    return record


def _run(
    record: ReplicationRecord,
    regions: list[Region],
    image: Path,
    extents: ExtentMap,
    digest: str,
    fields: dict[str, str],
    strategy: str,
    progress: ReplicationProgress,
    threads: int,
    *,
    verify_only: bool,
    trust_metadata: bool,
    copy_deadline_s: float,
    limit_rate: float | None = None,
) -> None:
    size = extents.size
    pieces = list(chunked(extents.ranges, max_len=MAX_PUT, align=512, size=size))
    fingerprint = ranges_fingerprint(pieces)
    pool = 2 * threads + 8
    slots: list[_Slot] = []
    for region in regions:
        name = region.blob_name(**fields)
        rec = RegionRecord(
            region=region.name, endpoint=region.endpoint, container=region.container, blob=name
        )
        record.regions.append(rec)
        try:
            blob = blob_client(region, name, pool=pool)
        except Exception as exc:  # this region is unreachable; the others go on
            rec.state, rec.error = "failed", f"storage unreachable: {_short(exc)}"
            progress.finish(region.name, "failed")
            continue
        slots.append(_Slot(region, blob, rec))
    if not slots:
        raise InfraError(
            "no region's storage is reachable: "
            + "; ".join(f"{r.region}: {r.error}" for r in record.regions)
        )

    # 1. Pre-check: skip regions already verified; in verify-only mode that is all we do.
    pending: list[_Slot] = []
    for slot in slots:
        rec = slot.record
        try:
            state = _blob_state(slot.blob)
        except Exception as exc:
            rec.state, rec.error = "failed", f"pre-check: {_short(exc)}"
            continue
        if state is None:
            if verify_only:
                rec.state, rec.precheck = "missing", "blob does not exist"
                continue
            pending.append(slot)
            continue
        blob_size, meta = state
        if blob_size != size or meta.get(META_DIGEST) != digest:
            rec.precheck = (
                f"blob differs (size {blob_size}, digest {str(meta.get(META_DIGEST))[:12]})"
            )
            if verify_only:
                rec.state, rec.error = "failed", rec.precheck
            else:
                pending.append(slot)
            continue
        if meta.get(META_STATE) != STATE_VERIFIED and not verify_only:
            rec.precheck = f"blob state {meta.get(META_STATE)!r}"
            pending.append(slot)
            continue
        if trust_metadata and not verify_only:
            rec.state, rec.digest, rec.precheck = (
                "skipped",
                digest,
                "verified metadata (not recomputed)",
            )
            continue
        t0 = time.monotonic()
        try:
            remote = remote_digest(slot.blob, threads=threads)
        except Exception as exc:
            rec.state, rec.error = "failed", f"pre-check digest: {_short(exc)}"
            continue
        rec.digest = remote.digest
        rec.duration_s = round(time.monotonic() - t0, 3)
        if remote.digest == digest:
            rec.state = "verified" if verify_only else "skipped"
            rec.precheck = "already replicated: size and recomputed digest match"
        else:
            rec.precheck = "digest mismatch: the replica was altered or is corrupt"
            with contextlib.suppress(Exception):
                slot.blob.set_blob_metadata(_metadata(digest, size, STATE_FAILED))
            if verify_only:
                rec.state, rec.error = "failed", rec.precheck
            else:
                pending.append(slot)
    if verify_only or not pending:
        return

    # 2. Choose strategies. The first region is the source for server-side strategies.
    primary = slots[0]
    others = [s for s in pending if s is not primary]
    plans: dict[str, list[str]] = {}
    stream_group: list[_Slot] = [primary] if primary in pending else []
    need_source = strategy in ("server", "pages-from-url") and bool(others)
    if strategy == "stream":
        stream_group = list(pending)
        others = []
    elif strategy == "auto":
        for slot in others:
            candidates = _auto_candidates(primary, slot)
            plans[slot.region.name] = candidates
            if candidates == ["stream"]:
                stream_group.append(slot)
        others = [s for s in others if plans[s.region.name] != ["stream"]]
        need_source = bool(others)
    else:
        for slot in others:
            plans[slot.region.name] = [strategy]
    if need_source and primary not in stream_group and primary.record.state not in ("skipped",):
        stream_group.insert(0, primary)

    # 3. Stream fan-out: one read of the image for every region in the group.
    if stream_group:
        stats = _stream(
            stream_group,
            image,
            pieces,
            size,
            digest,
            fingerprint,
            progress,
            threads,
            rate=limit_rate,
        )
        record.source_bytes_read += stats.source_bytes_read
        # Verify the regions side by side (one Azurite is the bottleneck, Azure regions are not).
        share = max(2, threads // len(stream_group))
        with ThreadPoolExecutor(max_workers=len(stream_group)) as verifiers:
            list(
                verifiers.map(
                    lambda s: _finish(s, digest, size, share, progress, strategy="stream"),
                    stream_group,
                )
            )
    if others and not primary.record.ok:
        for slot in others:
            slot.record.state = "failed"
            slot.record.error = f"source region {primary.region.name} failed; nothing to copy from"
        return

    # 4. Server-side strategies, each region falling back along its plan.
    source_url = None
    if others:
        # Read-only and short-lived: it only has to outlive the slowest copy.
        ttl = dt.timedelta(seconds=copy_deadline_s) + dt.timedelta(minutes=15)
        try:
            source_url = source_sas_url(primary.region, primary.blob, ttl=ttl)
        except Exception as exc:
            log.warning("region %s: cannot make a read SAS: %s", primary.region.name, _short(exc))
    for slot in others:
        served = False
        for name in plans[slot.region.name]:
            t0 = time.monotonic()
            attempt: dict[str, Any] = {"strategy": name}
            try:
                if name == "stream":
                    stats = _stream(
                        [slot],
                        image,
                        pieces,
                        size,
                        digest,
                        fingerprint,
                        progress,
                        threads,
                        note=False,
                        rate=limit_rate,
                    )
                    record.source_bytes_read += stats.source_bytes_read
                    if slot.record.error:
                        raise StrategyFailed(slot.record.error)
                else:
                    if source_url is None:
                        raise StrategyFailed("no read SAS can be made for the source blob")
                    slot.started = time.monotonic()
                    progress.start(slot.region.name, size, name)
                    meta = _metadata(digest, size, STATE_INCOMPLETE)
                    if name == "server":
                        outcome = server_copy(
                            slot.blob, source_url, metadata=meta, deadline_s=copy_deadline_s
                        )
                        attempt["copy_status"] = outcome.status
                        if outcome.status != "success":
                            raise StrategyFailed(
                                f"copy {outcome.status}: {outcome.description or ''}".strip()
                            )
                    else:
                        pages_from_url(slot.blob, source_url, size, pieces, meta, threads=threads)
                attempt["outcome"] = "served"
                served = True
            except StrategyFailed as exc:
                attempt["outcome"], attempt["reason"] = "failed", redact(str(exc))
            attempt["seconds"] = round(time.monotonic() - t0, 3)
            slot.record.attempts.append(attempt)
            if served:
                _finish(slot, digest, size, threads, progress, strategy=name)
                break
        if not served:
            slot.record.state = "failed"
            slot.record.error = "every strategy failed: " + "; ".join(
                f"{a['strategy']}: {a.get('reason')}" for a in slot.record.attempts
            )
            progress.finish(slot.region.name, "failed")


def _auto_candidates(primary: _Slot, slot: _Slot) -> list[str]:
    """The ``auto`` plan for one region; skipped strategies are noted in its attempts."""
    candidates: list[str] = []
    if slot.region.emulator or primary.region.emulator:
        slot.record.attempts.append(
            {
                "strategy": "server",
                "outcome": "skipped",
                "reason": "emulator: Azurite buffers a cross-account page-blob copy whole in "
                "memory (reference P3)",
            }
        )
    elif _account_key(primary.region) is None and primary.region.credential not in (
        "default",
        "sas",
    ):
        slot.record.attempts.append(
            {"strategy": "server", "outcome": "skipped", "reason": "no SAS can be made"}
        )
    else:
        candidates.append("server")
    reason = probe_pages_from_url(primary.region, primary.blob, slot.blob)
    if reason is None:
        candidates.append("pages-from-url")
    else:
        slot.record.attempts.append(
            {
                "strategy": "pages-from-url",
                "outcome": "skipped",
                "reason": f"probe failed: {reason}",
            }
        )
    candidates.append("stream")
    return candidates


def _stream(
    group: list[_Slot],
    image: Path,
    pieces: list[tuple[int, int]],
    size: int,
    digest: str,
    fingerprint: str,
    progress: ReplicationProgress,
    threads: int,
    *,
    note: bool = True,
    rate: float | None = None,
) -> FanOutStats:
    """Prepare each blob (create or resume) and fan the image's pieces out to all of them."""
    targets: list[PageTarget] = []
    for slot in group:
        slot.started = time.monotonic()
        rec = slot.record
        journal = Journal(
            slot.region.endpoint, slot.region.container, rec.blob, size, digest, fingerprint
        )
        done = journal.load()
        state = _blob_state(slot.blob)
        resumable = (
            done
            and state is not None
            and state[0] == size
            and state[1].get(META_DIGEST) == digest
            and state[1].get(META_STATE) == STATE_INCOMPLETE
        )
        if resumable:
            # Trust the journal only where the service really holds pages.
            ranges = page_ranges(slot.blob)
            journal.done = {i for i in done if i < len(pieces) and covered(ranges, *pieces[i])}
        else:
            journal.discard()
            slot.blob.create_page_blob(size, metadata=_metadata(digest, size, STATE_INCOMPLETE))
        targets.append(PageTarget(region=slot.region.name, blob=slot.blob, journal=journal))
        progress.start(slot.region.name, sum(n for _, n in pieces), "stream")
    stats = fan_out(
        image, pieces, targets, threads=threads, progress=progress.advance, rate_limit=rate
    )
    for slot, target in zip(group, targets, strict=True):
        slot.record.send_s = round(slot.record.send_s + stats.seconds, 3)
        slot.record.bytes_sent += target.bytes_sent
        slot.record.bytes_resumed = target.bytes_resumed
        if target.error is not None:
            slot.record.error = _short(target.error)
        if note:
            outcome = {"strategy": "stream", "outcome": "failed" if target.error else "served"}
            if target.error is not None:
                outcome["reason"] = _short(target.error)
            slot.record.attempts.append(outcome)
    return stats


def _finish(
    slot: _Slot,
    digest: str,
    size: int,
    threads: int,
    progress: ReplicationProgress,
    *,
    strategy: str,
) -> None:
    """Verify one region: size and recomputed digest; set its metadata state and journal."""
    rec = slot.record
    rec.strategy = strategy
    verify_started = time.monotonic()
    if strategy != "stream":
        rec.send_s = round(verify_started - slot.started, 3)
    if rec.error is not None:
        rec.state = "failed"
    else:
        try:
            remote = remote_digest(slot.blob, threads=threads)
        except Exception as exc:
            rec.state, rec.error = "failed", f"verify: {_short(exc)}"
        else:
            rec.digest = remote.digest
            if remote.size != size:
                rec.state, rec.error = "failed", f"blob size {remote.size} != image size {size}"
            elif remote.digest != digest:
                rec.state = "failed"
                rec.error = "digest recomputed from the page ranges does not match the image"
            else:
                rec.state = "replicated"
        final = STATE_VERIFIED if rec.state == "replicated" else STATE_FAILED
        with contextlib.suppress(Exception):
            slot.blob.set_blob_metadata(_metadata(digest, size, final))
    # Verified: the journal is spent. Failed: journaled pieces proved nothing, so the next run
    # re-sends everything to this region (and only to it).
    _discard_journals(slot, size, digest)
    rec.verify_s = round(time.monotonic() - verify_started, 3)
    rec.duration_s = round(time.monotonic() - slot.started, 3)
    progress.finish(rec.region, rec.state)


_journal_lock = threading.Lock()


def _discard_journals(slot: _Slot, size: int, digest: str) -> None:
    """Remove the region's resume journal (its identity includes the piece fingerprint)."""
    from harness.upload import cache_dir

    with _journal_lock:
        directory = cache_dir()
        if not directory.is_dir():
            return
        for path in directory.glob("*.json"):
            try:
                ident = json.loads(path.read_text()).get("identity", {})
            except (OSError, ValueError):
                continue
            if (
                ident.get("endpoint") == slot.region.endpoint
                and ident.get("container") == slot.region.container
                and ident.get("blob") == slot.record.blob
                and ident.get("digest") == digest
                and ident.get("size") == size
            ):
                path.unlink(missing_ok=True)
