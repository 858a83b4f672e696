"""The stages' core calls implemented on vmcert's certification core and replication package.

The certification core is being redesigned (issue 10): ``harness.runner.certify`` and the
``harness.replication`` package change shape. The three adapters below are written against the
redesigned API once it has landed; until then each one fails its stage with a message saying so
(never a stand-in that pretends to certify, replicate or boot).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import VmcertError
from harness.publish.core import (
    CertificationVerdict,
    PlanImage,
    PreviewCheck,
    Replica,
)
from harness.publish.model import Stage
from harness.publish.settings import PublishSettings
from harness.publish.stages import StageRunner, stage_table

_PENDING = (
    "is not wired to the certification core in this build of vmcert yet (it lands with the "
    "core redesign); nothing was {verb}"
)


class CoreUnavailable(VmcertError):
    """The adapter to the core is not in this build."""


class CoreCertifier:
    """``Certifier`` on ``harness.runner.certify``."""

    def certify(
        self, images: Sequence[PlanImage], run_dir: Path, cancel: threading.Event
    ) -> CertificationVerdict:
        raise CoreUnavailable("Certification " + _PENDING.format(verb="certified"))


class CoreReplicator:
    """``Replicator`` on ``harness.replication``."""

    def replicate(
        self,
        images: Sequence[PlanImage],
        regions: Sequence[str],
        storage_config: Path | None,
        work_dir: Path,
        cancel: threading.Event,
        approvals: Mapping[Path, Path],
    ) -> tuple[Replica, ...]:
        raise CoreUnavailable("Provisioning " + _PENDING.format(verb="replicated"))


class CorePreviewVerifier:
    """``PreviewVerifier``: read back from a region, boot with a platform, reach it."""

    def verify(
        self,
        replica: Replica,
        storage_config: Path | None,
        work_dir: Path,
        cancel: threading.Event,
    ) -> PreviewCheck:
        raise CoreUnavailable("The preview deployment " + _PENDING.format(verb="booted"))


def default_stages(settings: PublishSettings) -> dict[Stage, StageRunner]:
    """The stage table the CLI runs: every stage on the real core."""
    return stage_table(CoreCertifier(), CoreReplicator(), CorePreviewVerifier())
