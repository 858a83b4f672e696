"""The one way checks are judged: a :class:`CheckPlan` of checks, a policy and waivers.

Offline inspection, ``vmcert check`` and ``vmcert certify`` all evaluate through
:meth:`CheckPlan.evaluate`, so not-run waivers, policy parameters, "fact not collected → ERROR"
and waivers apply the same way everywhere. The plan also says which facts to collect
(:meth:`CheckPlan.facts_needed`); collecting them is the harness's job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from checks.fact import Fact, Facts
from checks.model import Check, Result, Status
from checks.policy import DEFAULT_PROFILE, Policy
from checks.waivers import WaiverEntry, apply_waivers, not_run, skipped_result


class CheckPlan:
    """``checks`` judged under ``policy`` (default: the marketplace profile) and ``waivers``.

    ``today`` fixes the date waivers expire against (default: the current date).
    """

    def __init__(
        self,
        checks: Sequence[Check],
        policy: Policy | None = None,
        waivers: Sequence[WaiverEntry] = (),
        *,
        today: dt.date | None = None,
    ) -> None:
        self.checks = list(checks)
        self.policy = policy if policy is not None else Policy.profile(DEFAULT_PROFILE, checks)
        self.waivers = list(waivers)
        self.today = today
        self._not_run = not_run(self.waivers, today)

    @property
    def to_run(self) -> list[Check]:
        """The checks that will run (``run = false`` waivers keep the others out)."""
        return [c for c in self.checks if c.id not in self._not_run]

    def facts_needed(self, have: Collection[str] = ()) -> list[Fact[object]]:
        """The facts the checks that will run read, minus those in ``have`` (names, or a
        :class:`~checks.fact.Facts`), each once, in the checks' order. Supplied facts (no probe)
        are included: a caller that only probes filters on :attr:`Fact.probed`."""
        needed: dict[str, Fact[object]] = {}
        for check in self.to_run:
            for item in check.facts:
                if item.name not in have:
                    needed.setdefault(item.name, item)
        return list(needed.values())

    def evaluate(
        self,
        facts: Facts,
        *,
        only_judgeable: bool = False,
        unavailable: Mapping[str, str] | None = None,
    ) -> list[Result]:
        """One result per check, in order.

        A ``run = false`` waiver gives a SKIPPED "not run" result; a check whose facts are all
        missing because collecting them failed is an ERROR naming why; waivers are attached last.
        With ``only_judgeable`` a check none of whose facts is present is left out (offline
        inspection lists only the checks it can judge). ``unavailable`` names facts this source
        cannot give at all, with why: a check left without facts by them is SKIPPED and marked
        :attr:`~checks.model.Result.not_judged`. Each result records its facts' sources.
        """
        if unavailable is not None:
            # an offline source cannot have what the harness supplies only when it boots (a
            # supplied fact that says why in its offline_note)
            booted = {
                f.name: f.offline_note
                for c in self.checks
                for f in c.facts
                if not f.probed and f.offline_note and f.name not in facts
            }
            unavailable = {**booted, **unavailable}
        unavailable = unavailable or {}
        results: list[Result] = []
        for check in self.checks:
            if only_judgeable and not any(name in facts for name in check.fact_names):
                continue
            entry = self._not_run.get(check.id)
            if entry is not None:
                results.append(skipped_result(check, entry, self.today))
                continue
            result = check.run(facts, self.policy.params_for(check))
            failed = [facts.errors[n] for n in check.fact_names if n in facts.errors]
            if failed and result.status is Status.SKIPPED:
                result = replace(result, status=Status.ERROR, message="; ".join(failed))
            gone = [n for n in check.fact_names if n not in facts and n in unavailable]
            why = [f"{n}: {unavailable[n]}" for n in gone]
            # a check that needs one of its facts (facts.require) and met it unavailable: not
            # judged either, not an evaluation error (context facts such as os_release are there)
            needed = any(
                f"MissingFactError: fact {n}: not collected" in result.message for n in gone
            )
            if result.status is Status.ERROR and needed:
                result = replace(result, status=Status.SKIPPED)
            if why and result.status is Status.SKIPPED and not failed:
                reason = "; ".join(dict.fromkeys(why))
                result = replace(result, message=f"not judged: {reason}", not_judged=reason)
            used = {n: facts.sources[n] for n in check.fact_names if n in facts.sources}
            if used:
                result = replace(result, sources=used)
            results.append(result)
        return apply_waivers(results, self.waivers, self.today)
