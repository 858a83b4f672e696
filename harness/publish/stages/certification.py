"""Stage 2, Certification: the certification core on every plan's image; its reports are the
stage's artifacts. A plan version without an image file fails here, as in CPP ("No virtual
machine image was found for the plan ...")."""

from __future__ import annotations

import json
from pathlib import Path

from harness.publish.core import Certifier
from harness.publish.outcome import Artifact, Complete, Failed, Outcome, RetryLater
from harness.publish.stages.base import StageContext

CERTIFIED_FILE = "certified.json"
"""Image path -> {"digest", "report"}: what Provisioning replicates, and the approving report."""


class CertificationStage:
    def __init__(self, certifier: Certifier) -> None:
        self.certifier = certifier

    def run(self, ctx: StageContext) -> Outcome:
        missing: list[str] = []
        for plan in ctx.offer.plans:
            for image in plan.images:
                if image.path is None:
                    missing.append(
                        f"plan {plan.id} {image.version}: {image.source} is a URI; "
                        "certification needs the image file"
                    )
                elif not image.path.is_file():
                    missing.append(
                        f"No virtual machine image was found for the plan {plan.id} "
                        f"(version {image.version}): {image.path}"
                    )
        if missing:
            return Failed(missing[0], details=tuple(missing[1:]))
        images = ctx.plan_images()
        run_dir = ctx.work_dir / "run"
        ctx.log.write(f"certifying {len(images)} image(s) into {run_dir}")
        verdict = self.certifier.certify(images, run_dir, ctx.canceled)
        for artifact in verdict.reports:
            ctx.log.write(f"artifact {artifact.kind}: {artifact.path}")
        if verdict.infra_error is not None:
            return RetryLater(f"certification could not run: {verdict.infra_error}")
        if not verdict.passed:
            count = len(verdict.failing)
            report = next((a.path for a in verdict.reports if a.kind == "html"), None)
            return Failed(
                f"Certification failed: {count} failing check{'s' if count != 1 else ''}",
                details=verdict.failing,
                artifacts=verdict.reports,
                attachment=report,
            )
        certified = {
            str(image.path): {
                "digest": verdict.digests.get(str(image.path), ""),
                "report": verdict.approvals.get(str(image.path), ""),
            }
            for image in images
        }
        record = ctx.work_dir / CERTIFIED_FILE
        record.write_text(json.dumps(certified, indent=2))
        artifacts = (*verdict.reports, Artifact("certified", record))
        return Complete((f"{len(images)} image(s) certified.",), artifacts)


def read_approvals(certification_dir: Path) -> dict[Path, Path]:
    """Image -> approving report, as Certification recorded them (empty if it recorded none)."""
    path = certification_dir / CERTIFIED_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {Path(image): Path(entry["report"]) for image, entry in data.items() if entry["report"]}
