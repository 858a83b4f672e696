"""The stages, one module each; :func:`stage_table` assembles them with the core adapters."""

from __future__ import annotations

from collections.abc import Mapping

from harness.publish.core import Certifier, PreviewVerifier, Replicator
from harness.publish.model import Stage
from harness.publish.stages.base import StageContext, StageRunner
from harness.publish.stages.certification import CertificationStage
from harness.publish.stages.live import LiveStage
from harness.publish.stages.packaging import PackagingStage
from harness.publish.stages.preview import PreviewStage
from harness.publish.stages.provisioning import ProvisioningStage
from harness.publish.stages.validate import ValidateStage

StageTable = Mapping[Stage, StageRunner]


def stage_table(
    certifier: Certifier, replicator: Replicator, verifier: PreviewVerifier
) -> dict[Stage, StageRunner]:
    """Every automatic stage (sign-off waits for the publisher and has no runner)."""
    return {
        Stage.VALIDATE: ValidateStage(),
        Stage.CERTIFICATION: CertificationStage(certifier),
        Stage.PROVISIONING: ProvisioningStage(replicator),
        Stage.PACKAGING: PackagingStage(),
        Stage.PREVIEW: PreviewStage(verifier),
        Stage.LIVE: LiveStage(),
    }


__all__ = ["StageContext", "StageRunner", "StageTable", "stage_table"]
