"""The certification core as the pipeline sees it: three small protocols.

Certification, Provisioning and Preview call vmcert's own certification and replication as a
library through these protocols; :mod:`harness.publish.adapters` implements them on
``harness.runner`` and ``harness.replication``. A scale-out executor runs the same stages with
the same adapters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.publish.outcome import Artifact


@dataclass(frozen=True)
class PlanImage:
    """One image file of one plan version, as a stage hands it to the core."""

    plan: str
    version: str
    path: Path
    generation: int = 1
    offer: str = ""
    """The offer id (replication names blobs ``{offer}/{plan}/{version}.vhd``)."""


@dataclass(frozen=True)
class CertificationVerdict:
    """The core's answer for a set of images."""

    passed: bool
    failing: tuple[str, ...] = ()
    """One line per failing check (``plan 1.0.0: check-id: message``) or unusable image."""
    reports: tuple[Artifact, ...] = ()
    """The reports written (JSON, JUnit, HTML) and logs (serial, emulator)."""
    infra_error: str | None = None
    """Set when the core could not judge (a VM did not boot): the stage is tried again."""
    digests: dict[str, str] = field(default_factory=dict)
    """Image path -> sparse digest, for Provisioning to verify replicas against."""
    approvals: dict[str, str] = field(default_factory=dict)
    """Image path -> the JSON report that certifies it (replication's approval)."""


class Certifier(Protocol):
    def certify(
        self, images: Sequence[PlanImage], run_dir: Path, cancel: threading.Event
    ) -> CertificationVerdict:
        """Inspect, boot and check every image; write the reports under ``run_dir``."""
        ...


@dataclass(frozen=True)
class Replica:
    """One image copy in one region, verified by digest."""

    plan: str
    version: str
    region: str
    url: str
    """Without any credential (no SAS token)."""
    digest: str
    verified: bool


class ReplicationFailed(Exception):
    """Replication could not complete; ``retry`` when the cause may pass (storage unreachable)."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Replicator(Protocol):
    def replicate(
        self,
        images: Sequence[PlanImage],
        regions: Sequence[str],
        storage_config: Path | None,
        work_dir: Path,
        cancel: threading.Event,
        approvals: Mapping[Path, Path],
    ) -> tuple[Replica, ...]:
        """Copy every image to every region and verify each copy's digest; ``approvals`` maps
        each image to the certification report that approves it. Raises
        :class:`ReplicationFailed`."""
        ...


@dataclass(frozen=True)
class PreviewCheck:
    """The preview deployment: the replicated image, read back from a region, booted."""

    reachable: bool
    detail: str
    artifacts: tuple[Artifact, ...] = ()


class PreviewVerifier(Protocol):
    def verify(
        self,
        replica: Replica,
        storage_config: Path | None,
        work_dir: Path,
        cancel: threading.Event,
    ) -> PreviewCheck:
        """Read ``replica`` back from its region's storage, boot it and reach it."""
        ...
