"""The ``agent_service`` fact: whether the Azure Linux Agent's unit starts at boot."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.fact import fact
from checks.facts.ssh_service import UnitState, systemd_error

ENABLED_STATES = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")
"""Unit-file states that start a unit at boot (``masked``, ``disabled`` do not)."""


@dataclass(frozen=True)
class AgentService:
    """The agent's units that exist (none: no unit at all)."""

    units: tuple[UnitState, ...]
    systemd_error: str = ""
    """Why systemd gave no unit states (see :attr:`checks.facts.ssh_service.SshService`)."""

    @property
    def enabled(self) -> tuple[str, ...]:
        """Units that start at boot."""
        return tuple(u.unit for u in self.units if u.enabled in ENABLED_STATES)


def parse(text: str) -> AgentService:
    """``UNIT enabled=STATE active=STATE`` lines."""
    rows = re.findall(r"^(\S+) enabled=(\S*) active=(\S*)", text, re.MULTILINE)
    units = tuple(UnitState(unit, state, active) for unit, state, active in rows)
    return AgentService(units, systemd_error(text))


FACT = fact(
    "agent_service",
    parse,
    description="the Azure Linux Agent's systemd units (walinuxagent/waagent) and their state",
    offline_note="unit states are read from a running systemd",
)
