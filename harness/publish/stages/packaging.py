"""Stage 4, Packaging and lead generation registration: the product page, then the test lead
sent to the configured destination and read back."""

from __future__ import annotations

from harness.publish.errors import LeadRejected
from harness.publish.leads import destination_for, test_lead
from harness.publish.outcome import Artifact, Complete, Failed, Outcome, RetryLater
from harness.publish.product_page import write_product_page
from harness.publish.stages.base import StageContext


class PackagingStage:
    def run(self, ctx: StageContext) -> Outcome:
        page = write_product_page(ctx.offer, ctx.work_dir / "product.html")
        ctx.log.write(f"product page: {page}")
        messages = ["Product page built."]
        artifacts = [Artifact("product_page", page)]
        destination = destination_for(ctx.offer.leads)
        if destination is not None:
            lead = test_lead(ctx.offer, key=f"{ctx.offer.id}-{ctx.number}")
            ctx.log.write(f"sending test lead {lead.marker} to {destination.describe()}")
            try:
                destination.send(lead)
                destination.read_back(lead)
            except LeadRejected as exc:
                ctx.log.write(f"lead destination refused: {exc}")
                return Failed(f"The lead destination rejected the test lead: {exc}")
            except OSError as exc:
                return RetryLater(f"lead destination unreachable: {exc}")
            messages.append(f"Test lead {lead.marker} accepted by {destination.describe()}.")
        return Complete(tuple(messages), tuple(artifacts))
