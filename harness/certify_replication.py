"""The replication section of ``vmcert certify --replicate``.

After the reports are written, every image whose verdict is ``certified`` is replicated to the
requested regions. Approval is the run's own JSON report (``approval.json`` in the run
directory), so the usual digest check of :func:`harness.replicate.replicate_image` applies and
nothing uncertified can slip through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.console import notice
from harness.replicate import ReplicationRecord
from reports.model import RunReport


@dataclass
class ReplicationStep:
    """Replicates the certified images of a run; a hook for ``CertifyOptions.after_reports``."""

    regions: list[str]
    config: Path | None = None
    strategy: str = "auto"
    records: list[ReplicationRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every replicated image reached every region, verified."""
        return all(record.ok for record in self.records)

    def __call__(self, run: RunReport, run_dir: Path) -> None:
        from harness.cli.replicate import print_summary, progress_display
        from harness.replicate import replicate_image
        from reports.base import get_reporter

        approval = run_dir / "approval.json"
        get_reporter("json").write(run, approval)
        for index, image in enumerate(run.images, start=1):
            source = Path(image.path)
            if image.verdict != "certified":
                notice(f"{source.name}: verdict {image.verdict}; not replicated")
                continue
            notice(f"{source.name}: replicating to {', '.join(self.regions)} ({self.strategy})")
            with progress_display() as progress:
                record = replicate_image(
                    source,
                    self.regions,
                    config=self.config,
                    strategy=self.strategy,
                    approval_report=approval,
                    progress=progress,
                )
            record.write(run_dir / f"replication-{index}-{source.stem}.json")
            print_summary(record)
            self.records.append(record)
