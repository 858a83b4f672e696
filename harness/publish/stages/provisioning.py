"""Stage 3, Provisioning: each certified image replicated to every configured region and
verified by digest; the replicas are written for Preview to read back."""

from __future__ import annotations

import json
from dataclasses import asdict

from harness.publish.core import Replica, ReplicationFailed, Replicator
from harness.publish.outcome import Artifact, Complete, Failed, Outcome, RetryLater
from harness.publish.stages.base import StageContext
from harness.publish.stages.certification import read_approvals

REPLICAS_FILE = "replicas.json"


class ProvisioningStage:
    def __init__(self, replicator: Replicator) -> None:
        self.replicator = replicator

    def run(self, ctx: StageContext) -> Outcome:
        images = ctx.plan_images()
        regions = ctx.offer.regions
        ctx.log.write(f"replicating {len(images)} image(s) to {', '.join(regions)}")
        approvals = read_approvals(ctx.stage_dir("certification"))
        unapproved = [i for i in images if i.path not in approvals]
        if unapproved:
            image = unapproved[0]
            return Failed(
                f"plan {image.plan} {image.version}: no certification report approves "
                f"{image.path}; publish again (Certification runs first)"
            )
        try:
            replicas = self.replicator.replicate(
                images, regions, ctx.offer.storage_config, ctx.work_dir, ctx.canceled, approvals
            )
        except ReplicationFailed as exc:
            ctx.log.write(f"replication failed: {exc}")
            if exc.retry:
                return RetryLater(f"replication failed: {exc}")
            return Failed(f"replication failed: {exc}")
        unverified = [r for r in replicas if not r.verified]
        if unverified:
            first = unverified[0]
            return Failed(
                f"the copy in {first.region} of plan {first.plan} {first.version} does not "
                "match the certified image's digest",
                details=tuple(f"{r.region}: {r.plan} {r.version} {r.url}" for r in unverified),
            )
        path = ctx.work_dir / REPLICAS_FILE
        path.write_text(json.dumps([asdict(r) for r in replicas], indent=2))
        return Complete(
            (f"{len(replicas)} replica(s) in {len(regions)} region(s), verified by digest.",),
            (Artifact("replicas", path),),
        )


def read_replicas(ctx: StageContext) -> list[Replica]:
    """The replicas Provisioning recorded for this request."""
    path = ctx.stage_dir("provisioning") / REPLICAS_FILE
    data = json.loads(path.read_text())
    return [Replica(**item) for item in data]
