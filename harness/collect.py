"""Collecting facts from a running machine: every probe a set of facts needs, in one batch.

:func:`collect` takes an open session (the machine has settled already) and the facts to
collect, runs their shell texts through the batched executor (:mod:`harness.probe_runner`) and
parses the outputs into :class:`~checks.fact.Facts`. Facts without a shell text (supplied by the
caller) are left out. Judging the facts is :class:`checks.plan.CheckPlan`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from checks.fact import Fact, Facts
from checks.model import JSON
from harness.probe_runner import ScriptSession, run_probes


@dataclass(frozen=True)
class Collection:
    """The facts one collection produced and how they were collected."""

    facts: Facts
    """Parsed values; :attr:`Facts.errors` says why a requested fact is missing."""
    mode: str = "none"
    """``batch`` (one exec), ``per-probe`` (fallback) or ``none`` (nothing to probe)."""
    fallback_reason: str | None = None
    execs: int = 0
    wall_time: float = 0.0
    """Host-side seconds for all execs."""
    family: str = "unknown"
    """The distribution family the guest reported (it chose the family-specific texts)."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Guest-side seconds per probe."""

    def run_facts(self) -> dict[str, JSON]:
        """How the facts were collected, for reports (the caller adds policy and footprint)."""
        return {
            "batch_mode": self.mode,
            "fallback_reason": self.fallback_reason,
            "execs": self.execs,
            "probe_wall_time": round(self.wall_time, 3),
            "probe_timings": {k: round(v, 3) for k, v in self.timings.items()},
            "probe_errors": dict(self.facts.errors),
            "distro_family": self.family,
        }


def collect(
    session: ScriptSession,
    facts: Sequence[Fact[object]],
    *,
    batch: bool = True,
    timeout_scale: float = 1.0,
) -> Collection:
    """Collect ``facts`` over ``session``: one exec for all their probes (fallback: one exec
    each; ``batch=False`` goes straight to that). Facts without a probe are skipped.

    ``timeout_scale`` stretches every probe's time limit like the machine's other timeouts (5
    under TCG emulation, where a loaded host can make a 1 s probe take 10 s): a probe cut short
    by the host's slowness would turn into a verdict about the image."""
    probes = list({f.name: f for f in facts if f.probed}.values())
    if timeout_scale != 1.0:
        probes = [replace(f, timeout=f.timeout * timeout_scale) for f in probes]
    if not probes:
        return Collection(Facts())
    run = run_probes(session, probes, batch=batch)
    parsed = Facts.from_texts(run.facts(), errors=run.errors(), source="online", known=probes)
    return Collection(
        facts=parsed,
        mode=run.mode,
        fallback_reason=run.fallback_reason,
        execs=run.execs,
        wall_time=run.wall_time,
        family=run.family,
        timings=run.timings,
    )
