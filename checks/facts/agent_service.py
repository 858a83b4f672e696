"""The ``agent_service`` fact: whether the Azure Linux Agent's unit starts at boot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.facts.ssh_service import UnitState, systemd_error

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage

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


UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system",
             "/lib/systemd/system")  # fmt: skip
"""systemd's unit search path for the system manager, in its order (systemd.unit(5))."""


def _unit_file_state(image: OfflineImage, name: str) -> str | None:
    """``systemctl is-enabled NAME`` on the image's files: ``masked`` (a /etc or /run link to
    /dev/null), ``enabled`` (a ``.wants``/``.requires`` link in /etc), ``static`` (no
    ``[Install]`` section), else ``disabled``; None when no unit file exists (not-found)."""
    for directory in UNIT_DIRS[:2]:
        path = f"{directory}/{name}"
        if image.is_link(path) and image.read_link(path) == "/dev/null":
            return "masked"
    found = next((f"{d}/{name}" for d in UNIT_DIRS if image.is_file(f"{d}/{name}")), None)
    if found is None:
        return None
    if image.glob(f"/etc/systemd/system/*.wants/{name}") or image.glob(
        f"/etc/systemd/system/*.requires/{name}"
    ):
        return "enabled"
    text = image.read_text(found, 1024 * 1024)
    return "disabled" if re.search(r"^\s*\[Install\]", text, re.MULTILINE) else "static"


def read_offline(image: OfflineImage) -> str:
    """What ``agent_service.sh`` prints for the image's unit files: each agent unit that exists
    with its unit-file state; ``inactive``, as nothing runs in an image."""
    out = []
    for name in ("walinuxagent.service", "waagent.service"):
        state = _unit_file_state(image, name)
        if state is not None:
            out.append(f"{name} enabled={state} active=inactive\n")
    return "".join(out)


FACT = fact(
    "agent_service",
    parse,
    description="the Azure Linux Agent's systemd units (walinuxagent/waagent) and their state",
    offline=read_offline,
    offline_note="unit-file states from the image's unit directories; nothing is active",
)
