"""Stage 5, Offer available in Preview: the preview deployment verified (the image as
replicated, read back from a region's storage, boots and is reachable); the offer is visible
to its preview audience only (:meth:`~harness.publish.store.Store.catalog`)."""

from __future__ import annotations

from harness.publish.core import PreviewVerifier
from harness.publish.outcome import Complete, Failed, Outcome, RetryLater
from harness.publish.stages.base import StageContext
from harness.publish.stages.provisioning import read_replicas


class PreviewStage:
    def __init__(self, verifier: PreviewVerifier) -> None:
        self.verifier = verifier

    def run(self, ctx: StageContext) -> Outcome:
        replicas = read_replicas(ctx)
        if not replicas:
            return Failed("no replica to deploy in preview (Provisioning recorded none)")
        replica = replicas[0]
        ctx.log.write(
            f"preview deployment of {replica.plan} {replica.version} from {replica.region}"
        )
        check = self.verifier.verify(replica, ctx.offer.storage_config, ctx.work_dir, ctx.canceled)
        if not check.reachable:
            return RetryLater(f"the preview deployment is not reachable: {check.detail}")
        audience = ", ".join(ctx.offer.preview_subscriptions)
        return Complete(
            (f"Preview deployment verified: {check.detail}", f"Preview audience: {audience}."),
            check.artifacts,
        )
