"""The ``waagent_conf`` fact: the AutoUpdate, ResourceDisk and Provisioning settings of
``/etc/waagent.conf`` and the swap-related lines of the cloud-init configuration."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from checks.fact import fact
from checks.parsing import sections


@dataclass(frozen=True)
class Setting:
    """One waagent.conf setting."""

    value: str
    commented: bool
    """Only a commented line (``# AutoUpdate.Enabled=y``, the shipped default) sets it."""


@dataclass(frozen=True)
class WaagentConf:
    """The agent's configuration and whether cloud-init is configured."""

    present: bool
    """Whether /etc/waagent.conf exists."""
    settings: Mapping[str, Setting] = field(default_factory=dict)
    """By name; an uncommented line wins over a commented default."""
    cloud_init_present: bool = False
    """Whether /etc/cloud exists (cloud-init is installed)."""
    cloud_init_lines: tuple[str, ...] = ()
    """``path:line`` of the cloud-init swap/mounts/disk_setup/fs_setup settings."""

    def uncommented(self) -> dict[str, str]:
        """The settings set by uncommented lines: name -> value."""
        return {k: s.value for k, s in self.settings.items() if not s.commented}


def _settings(text: str) -> dict[str, Setting]:
    out: dict[str, Setting] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(#?)\s*([A-Za-z.]+)\s*=\s*(\S*)", line)
        if m:
            name, commented = m.group(2), bool(m.group(1))
            if name not in out or out[name].commented:
                out[name] = Setting(m.group(3), commented)
    return out


def parse(text: str) -> WaagentConf:
    """The settings before ``### cloud_init`` (``absent`` when there is no waagent.conf), then
    the cloud-init section."""
    main = text.split("### cloud_init", 1)[0]
    cloud_init = sections(text).get("cloud_init") or ""
    lines = tuple(ln for ln in cloud_init.splitlines() if ln and ln != "cloud_init_present=yes")
    return WaagentConf(
        present=main.strip() != "absent",
        settings=_settings(main),
        cloud_init_present="cloud_init_present=yes" in cloud_init,
        cloud_init_lines=lines,
    )


FACT = fact(
    "waagent_conf",
    parse,
    description=(
        "AutoUpdate/ResourceDisk/Provisioning lines of waagent.conf; cloud-init swap config"
    ),
)
