"""Stage 1, Validate prerequisites: every required field present and valid, each problem named
by its field; then the notification e-mail address (CPP's pop-up) before the stage completes."""

from __future__ import annotations

from harness.publish.outcome import Complete, Failed, Outcome, WaitForInput
from harness.publish.stages.base import StageContext


class ValidateStage:
    def run(self, ctx: StageContext) -> Outcome:
        if ctx.problems:
            count = len(ctx.problems)
            noun = "problem" if count == 1 else "problems"
            for problem in ctx.problems:
                ctx.log.write(f"field {problem}")
            return Failed(
                f"{count} {noun} with the offer's fields; fix them and publish again",
                details=tuple(str(p) for p in ctx.problems),
            )
        if not ctx.emails:
            return WaitForInput(
                "All required fields are valid; waiting for the notification e-mail address."
            )
        ctx.log.write("all fields valid; notifications to " + ", ".join(ctx.emails))
        return Complete(("All required fields are present and valid.",))
