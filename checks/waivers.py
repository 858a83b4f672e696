"""Waivers: accepted exceptions to checks, and how they change results.

A waived failure is reported as waived and does not fail the run; an expired waiver no longer
applies and is reported as expired; a ``run = false`` entry keeps its check from running at all
(its facts are not even collected) and reports the justification. Reading waiver files is the
harness's job (:mod:`harness.waivers`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from checks.model import Check, Result, Status, Waiver


@dataclass(frozen=True)
class WaiverEntry:
    """One accepted exception."""

    check_id: str
    justification: str
    expires: dt.date | None = None
    """The last day the waiver applies (None: no end)."""
    run: bool = True
    """False: do not run the check at all."""

    def expired(self, today: dt.date | None = None) -> bool:
        """Whether the waiver's date has passed (it applies through its ``expires`` day)."""
        return self.expires is not None and (today or dt.date.today()) > self.expires

    def as_waiver(self, today: dt.date | None = None) -> Waiver:
        """The model's :class:`~checks.model.Waiver` as attached to a result."""
        return Waiver(
            check_id=self.check_id,
            justification=self.justification,
            expires=self.expires.isoformat() if self.expires else None,
            expired=self.expired(today),
        )


def not_run(entries: Sequence[WaiverEntry], today: dt.date | None = None) -> dict[str, WaiverEntry]:
    """Unexpired ``run = false`` entries by check id: those checks are not executed."""
    return {e.check_id: e for e in entries if not e.run and not e.expired(today)}


def skipped_result(check: Check, entry: WaiverEntry, today: dt.date | None = None) -> Result:
    """The result of a check a ``run = false`` waiver kept from running."""
    return Result(
        check_id=check.id,
        title=check.title,
        area=check.area,
        status=Status.SKIPPED,
        actual="not run",
        required=check.required_text(),
        message=f"not run (waiver): {entry.justification}",
        severity=check.severity,
        ms_test_name=check.ms_test_name,
        selftest_id=check.selftest_id,
        waiver=entry.as_waiver(today),
    )


def apply_waivers(
    results: Iterable[Result], entries: Sequence[WaiverEntry], today: dt.date | None = None
) -> list[Result]:
    """Attach matching waivers to results (expired ones are attached marked expired)."""
    by_id: Mapping[str, WaiverEntry] = {e.check_id: e for e in entries}
    out = []
    for r in results:
        entry = by_id.get(r.check_id)
        out.append(r.with_waiver(entry.as_waiver(today)) if entry and r.waiver is None else r)
    return out
