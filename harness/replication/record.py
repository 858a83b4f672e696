"""What one replication did: a record per region and one per run, written as JSON.

Reports, tests and CI read the JSON (``schema: vmcert-replication``, version 1), so its keys and
values are a contract: the enums here are :class:`~enum.StrEnum` and serialize to the same
strings the record always had.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NotRequired, TypedDict

from harness.errors import ExitCode
from harness.replication.redaction import redact_obj

RECORD_SCHEMA = "vmcert-replication"


class RegionState(StrEnum):
    """Where a region stands. ``verified`` and ``missing`` only occur with ``--verify-only``."""

    PENDING = "pending"
    REPLICATED = "replicated"
    """Sent during this run, then verified by size and recomputed digest."""
    SKIPPED = "skipped"
    """Already held a verified copy; nothing sent."""
    FAILED = "failed"
    VERIFIED = "verified"
    MISSING = "missing"

    @property
    def ok(self) -> bool:
        """True for the states in which the region holds a good replica."""
        return self in (RegionState.REPLICATED, RegionState.SKIPPED, RegionState.VERIFIED)


class AttemptOutcome(StrEnum):
    """How one strategy's attempt at one region ended."""

    SERVED = "served"
    FAILED = "failed"
    SKIPPED = "skipped"


class Attempt(TypedDict):
    """One strategy tried for one region (a JSON object in ``regions[].attempts``)."""

    strategy: str
    copy_status: NotRequired[str]
    outcome: AttemptOutcome
    reason: NotRequired[str]
    seconds: NotRequired[float]


class ImageInfo(TypedDict, total=False):
    """The replicated image as the record names it."""

    path: str
    size: int
    data_bytes: int
    sparse_digest: str


class Approval(TypedDict, total=False):
    """Why the image was allowed to leave (see :mod:`harness.replication.approval`)."""

    approved: bool | None
    forced: bool
    note: str
    report: str
    verdict: str
    report_image_path: str | None


@dataclass
class RegionRecord:
    """The outcome for one region."""

    region: str
    endpoint: str
    container: str
    blob: str
    state: RegionState = RegionState.PENDING
    strategy: str | None = None
    bytes_sent: int = 0
    bytes_resumed: int = 0
    send_s: float = 0.0
    """Seconds spent writing (upload, fan-out or server copy)."""
    verify_s: float = 0.0
    """Seconds spent recomputing the digest from the blob's page ranges."""
    duration_s: float = 0.0
    digest: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    precheck: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        self.state = RegionState(self.state)  # a plain string ("failed") is accepted too

    @property
    def ok(self) -> bool:
        """True when the region holds a good replica (replicated, skipped or verified)."""
        return self.state.ok

    def fail(self, error: str) -> None:
        """Mark the region failed with ``error`` (one redacted line)."""
        self.state, self.error = RegionState.FAILED, error


@dataclass
class ReplicationRecord:
    """Everything one replication did; :meth:`to_dict` is the JSON record (secrets redacted)."""

    image: ImageInfo
    approval: Approval
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

    def to_dict(self) -> dict[str, object]:
        """The JSON-ready record, with every secret scrubbed."""
        data: dict[str, object] = {
            "schema": RECORD_SCHEMA,
            "schema_version": 1,
            "started": self.started,
            "duration_s": round(self.duration_s, 3),
            "storage": self.storage,
            "image": dict(self.image),
            "approval": dict(self.approval),
            "strategy": self.strategy,
            "source_bytes_read": self.source_bytes_read,
            "source_reads": self.source_reads,
            "ok": self.ok,
            "regions": [_plain(asdict(r)) for r in self.regions],
        }
        redacted = redact_obj(data)
        assert isinstance(redacted, dict)
        return redacted

    def write(self, path: Path) -> None:
        """Write the record atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def _plain(value: object) -> object:
    """Enums as their plain string values, so the dict compares and dumps as it always did."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
