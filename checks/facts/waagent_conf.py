"""The ``waagent_conf`` fact: the AutoUpdate, Extensions, ResourceDisk and Provisioning settings of
``/etc/waagent.conf`` and the swap-related lines of the cloud-init configuration."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


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
    """By name, as the agent reads them (the last uncommented line wins; see :func:`_settings`);
    a commented default appears only when no uncommented line sets the key."""
    cloud_init_present: bool = False
    """Whether /etc/cloud exists (cloud-init is installed)."""
    cloud_init_lines: tuple[str, ...] = ()
    """``path:line`` of the cloud-init swap/mounts/disk_setup/fs_setup settings."""

    def switch(self, name: str, default: bool) -> bool:
        """A boolean setting as the agent's ``get_switch`` reads it: ``y``/``n`` in any case,
        anything else (or nothing) is ``default``."""
        setting = self.settings.get(name)
        if setting is None or setting.commented:
            return default
        if setting.value.lower() == "y":
            return True
        if setting.value.lower() == "n":
            return False
        return default

    def uncommented(self) -> dict[str, str]:
        """The settings set by uncommented lines: name -> value."""
        return {k: s.value for k, s in self.settings.items() if not s.commented}


def _settings(text: str) -> dict[str, Setting]:
    """The settings as WALinuxAgent's ``ConfigurationProvider.load`` reads them: a line that
    does not start with ``#`` and has ``=`` sets ``key = value`` (key stripped, value after the
    first ``=`` up to a ``#`` with quotes and blanks stripped; ``None`` means unset), and the
    **last** such line wins. Commented lines (``# AutoUpdate.Enabled=y``, the shipped
    defaults) are kept only for reporting, when no real line sets the key."""
    out: dict[str, Setting] = {}
    for line in text.split("\n"):  # the agent splits at "\n" only (a "\r" is stripped later)
        if line.startswith("#"):
            m = re.match(r"^#\s*([A-Za-z.]+)\s*=\s*(\S*)", line)
            if m and (m.group(1) not in out or out[m.group(1)].commented):
                out[m.group(1)] = Setting(m.group(2), True)
            continue
        if "=" not in line:
            continue
        # conf.py since 2.2.19 (#896): split at the first "=", drop an end-of-line "#" comment
        key, value = line.split("=", 1)
        key, value = key.strip(), value.split("#")[0].strip('" ').strip()
        out[key] = Setting("" if value == "None" else value, False)
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


_AGENT_KEYS = (
    "AutoUpdate.Enabled",
    "AutoUpdate.UpdateToLatestVersion",
    "Extensions.Enabled",
    "Provisioning.Agent",
    "Provisioning.Enabled",
    "Provisioning.UseCloudInit",
)
_CLOUD_INIT_KEYS = ("swap", "mounts", "disk_setup", "fs_setup", "filename", "size")


def _agent_line(line: str) -> bool:
    """Whether ``waagent_conf.sh`` prints this waagent.conf line."""
    from checks.offline.image import ltrim

    key = ltrim(ltrim(line).removeprefix("#"))
    rest = None
    for name in _AGENT_KEYS:
        if key.startswith(name):
            rest = key[len(name) :]
            break
    else:
        if key.startswith("ResourceDisk.") and key[13:14].isascii() and key[13:14].isalpha():
            tail = key[13:]
            rest = tail[
                len(tail)
                - len(tail.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")) :
            ]
    return rest is not None and ltrim(rest).startswith("=")


def read_offline(image: OfflineImage) -> str:
    """The AutoUpdate/Provisioning/ResourceDisk lines of /etc/waagent.conf and the swap lines
    of the cloud-init configuration, as ``waagent_conf.sh`` prints them."""
    from checks.offline.image import ltrim

    out = []
    if image.is_file("/etc/waagent.conf"):
        out += [line for line in image.lines("/etc/waagent.conf") if _agent_line(line)]
    else:
        out.append("absent")
    out.append("### cloud_init")
    if image.is_dir("/etc/cloud"):
        for path in ["/etc/cloud/cloud.cfg", *image.glob("/etc/cloud/cloud.cfg.d/*.cfg")]:
            if not image.is_file(path):
                continue
            for line in image.lines(path):
                key = ltrim(line)
                name = next((k for k in _CLOUD_INIT_KEYS if key.startswith(k)), None)
                if name is not None and ltrim(key[len(name) :]).startswith(":"):
                    out.append(f"{path}:{line}")
        out.append("cloud_init_present=yes")
    return "\n".join(out) + "\n"


FACT = fact(
    "waagent_conf",
    parse,
    description=(
        "AutoUpdate/ResourceDisk/Provisioning lines of waagent.conf; cloud-init swap config"
    ),
    offline=read_offline,
)
