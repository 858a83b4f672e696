"""The ``ssh_service`` fact: the state of the ssh/sshd systemd units and the listening TCP
sockets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import sections


@dataclass(frozen=True)
class UnitState:
    """One unit as systemd reports it (empty strings: unknown or no such unit)."""

    unit: str
    enabled: str
    """What ``systemctl is-enabled`` prints (``alias`` for an alias of the enabled unit)."""
    active: str
    """What ``systemctl is-active`` prints."""


@dataclass(frozen=True)
class SshService:
    """The SSH server units and what listens on TCP."""

    units: tuple[UnitState, ...]
    listening: tuple[str, ...]
    """Local addresses of listening TCP sockets (``0.0.0.0:22``, ``[::]:22``)."""
    systemd_error: str = ""
    """Why systemd gave no unit states (``systemctl show`` failed or answered for fewer units
    than asked); empty when it answered. Unit states are then unknown, not absent."""


def systemd_error(text: str) -> str:
    """The reason of a probe's ``systemd-error=WHY`` line (``vp_show``), or ``""``."""
    match = re.search(r"^systemd-error=(.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def parse(text: str) -> SshService:
    """Parse ``UNIT enabled=STATE active=STATE`` lines and the ``### listen`` section."""
    units = tuple(
        UnitState(unit, enabled, active)
        for unit, enabled, active in re.findall(
            r"^(\S+) enabled=(\S*) active=(\S*)", text, re.MULTILINE
        )
    )
    listening = tuple((sections(text).get("listen") or "").splitlines())
    return SshService(units=units, listening=listening, systemd_error=systemd_error(text))


FACT = fact(
    "ssh_service",
    parse,
    description="sshd unit state and listening TCP sockets",
    offline_note="whether sshd is active and what listens on port 22 needs a running system",
)
