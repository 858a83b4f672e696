"""A new fact and a check that judges it, in one plugin module.

In vmcert itself the fact would be ``checks/facts/time_sync.py`` (+ ``time_sync.sh``) and the
check a function in the area file ``checks/areas/system.py``; both are discovered, nothing is
listed anywhere. As a plugin, ``fact(..., package=__package__)`` finds the shell text next to
this module and the ``vmcert.facts`` / ``vmcert.checks`` entry points register the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.fact import Facts, fact
from checks.model import Outcome, Params, Severity, Status
from checks.registry import check


@dataclass(frozen=True)
class TimeSync:
    """The time-synchronisation units that exist on the machine, by unit name."""

    enabled: tuple[str, ...]
    """Units enabled at boot (``enabled``, ``static`` or an ``alias`` of an enabled unit)."""
    active: tuple[str, ...]
    """Units running now."""


def parse(text: str) -> TimeSync:
    """Parse the ``UNIT enabled=STATE active=STATE`` lines ``time_sync.sh`` prints."""
    rows = re.findall(r"^(\S+) enabled=(\S*) active=(\S*)$", text, re.MULTILINE)
    enabled = tuple(unit for unit, state, _ in rows if state in ("enabled", "static", "alias"))
    active = tuple(unit for unit, _, state in rows if state == "active")
    return TimeSync(enabled=enabled, active=active)


TIME_SYNC = fact(
    "time_sync",
    parse,
    package=__package__ or "vmcert_example",
    description="time-synchronisation units (chrony, systemd-timesyncd, ntpd) and their state",
)


@check(
    id="time_sync_service",
    title="Time synchronisation service",
    area="system",
    severity=Severity.WARNING,
    required="a time-synchronisation service enabled at boot",
    facts=[TIME_SYNC],
    params={"services": ["chrony", "chronyd", "systemd-timesyncd", "ntp", "ntpd"]},
    tags=["online"],
)
def time_sync_service(facts: Facts, params: Params) -> Outcome:
    """A VM's clock drifts without a synchronisation service (Azure recommends chrony with the
    host's PTP clock); one of ``services`` must be enabled at boot."""
    state = facts.require(TIME_SYNC)
    wanted = {f"{name}.service" for name in params.texts("services")}
    enabled = [unit for unit in state.enabled if unit in wanted]
    actual = ", ".join(enabled) or "none enabled"
    if not enabled:
        return Outcome(Status.WARNING, actual, "no time-synchronisation service is enabled")
    return Outcome(Status.PASS, actual, f"{enabled[0]} keeps the clock in sync")
