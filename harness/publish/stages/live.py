"""Stage 7, Live: the offer is listed publicly (the store lists it as the request succeeds)."""

from __future__ import annotations

from harness.publish.outcome import Complete, Outcome
from harness.publish.stages.base import StageContext


class LiveStage:
    def run(self, ctx: StageContext) -> Outcome:
        ctx.log.write(f"listing {ctx.offer.id} publicly")
        plans = ", ".join(p.id for p in ctx.offer.plans)
        return Complete((f"Listed publicly with the plans {plans}.",))
