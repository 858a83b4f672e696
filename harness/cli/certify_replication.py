"""The replication section of ``vmcert certify --replicate``.

After the reports are written, every image whose verdict is ``certified`` is replicated to the
requested regions. Approval is the run's own JSON report (``approval.json`` in the run
directory), so the usual digest check of :func:`~harness.replication.replicate_image` applies
and nothing uncertified can slip through.

The run already computed each image's :class:`~images.candidate.Candidate` (extents and sparse
digest); handing them over means replication reads each image once more, only to send its data.
They are looked up by the image path of the report entry, in this order:

1. ``candidates`` passed to the call (``step(run, run_dir, candidates)``, a mapping);
2. :attr:`ReplicationStep.candidates`, a mapping or a callable returning ``None`` when it has none;
3. otherwise replication computes the extents and digest from the file (one more read of its
   data, and an image changed since certification is refused by the digest check).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.console import notice
from harness.replication.orchestrate import replicate_image
from harness.replication.record import ReplicationRecord
from harness.replication.source import ImageData
from reports.model import RunReport

CandidateSource = Mapping[Path, ImageData] | Callable[[Path], ImageData | None]
"""Where the hook finds the Candidates a run computed: a mapping by image path, or a callable."""


@dataclass
class ReplicationStep:
    """Replicates the certified images of a run; a hook for ``CertifyOptions.after_reports``."""

    regions: list[str]
    config: Path | None = None
    strategy: str = "auto"
    candidates: CandidateSource | None = None
    """The run's Candidates by image path (see the module docstring)."""
    records: list[ReplicationRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every replicated image reached every region, verified."""
        return all(record.ok for record in self.records)

    def __call__(
        self,
        run: RunReport,
        run_dir: Path,
        candidates: Mapping[Path, ImageData] | None = None,
    ) -> None:
        from harness.cli.replicate import print_summary, progress_display
        from reports.base import get_reporter

        approval = run_dir / "approval.json"
        get_reporter("json").write(run, approval)
        for index, image in enumerate(run.images, start=1):
            source = Path(image.path)
            if image.verdict != "certified":
                notice(f"{source.name}: verdict {image.verdict}; not replicated")
                continue
            notice(f"{source.name}: replicating to {', '.join(self.regions)} ({self.strategy})")
            candidate = self.candidate(source, candidates)
            with progress_display() as progress:
                record = replicate_image(
                    source if candidate is None else candidate,
                    self.regions,
                    config=self.config,
                    strategy=self.strategy,
                    approval_report=approval,
                    progress=progress,
                )
            record.write(run_dir / f"replication-{index}-{source.stem}.json")
            print_summary(record)
            self.records.append(record)

    def candidate(
        self, path: Path, given: Mapping[Path, ImageData] | None = None
    ) -> ImageData | None:
        """The Candidate the run handed over for ``path``, or None (replication then reads it)."""
        found = _lookup(given, path)
        return found if found is not None else _lookup(self.candidates, path)


def _lookup(source: CandidateSource | None, path: Path) -> ImageData | None:
    """``path``'s entry in a mapping or callable (also under its resolved path)."""
    if source is None:
        return None
    for key in (path, path.resolve()):
        found = source.get(key) if isinstance(source, Mapping) else source(key)
        if found is not None:
            return found
    return None
