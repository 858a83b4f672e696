"""The ``network_config`` fact: the network configuration files the image ships (netplan,
ifupdown, ifcfg, NetworkManager keyfiles, systemd-networkd, SUSE's dhcp, dhcpcd/dhclient), and
what each says about how an interface gets its address."""

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
class InterfaceConfig:
    """One interface's configuration in one file."""

    path: str
    interface: str
    """The interface (or networkd's ``Name=`` match, NetworkManager's connection id)."""
    method: str
    """``dhcp``, ``static`` or ``other`` (manual, link-local, ...)."""


@dataclass(frozen=True)
class NetworkConfig:
    """The files found, by path, with their lines (in the probe's order)."""

    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def text(self, path: str) -> str | None:
        """A file's content (None when the image has no such file)."""
        lines = self.files.get(path)
        return None if lines is None else "\n".join(lines) + "\n"

    def interfaces(self) -> list[InterfaceConfig]:
        """How each configured interface gets its IPv4 address, per file format; loopback is
        left out."""
        out: list[InterfaceConfig] = []
        for path, lines in self.files.items():
            out += [c for c in _interfaces(path, lines) if c.interface not in ("lo", "")]
        return out


def _value(raw: str) -> str:
    return raw.split("#", 1)[0].strip().strip("'\"").lower()


def _interfaces(path: str, lines: tuple[str, ...]) -> list[InterfaceConfig]:
    name = path.rsplit("/", 1)[-1]
    if "/ifcfg-" in path:  # RHEL network-scripts and SUSE wicked: BOOTPROTO, the last one wins
        values = {}
        for line in lines:
            key, sep, value = line.partition("=")
            if sep and not key.lstrip().startswith("#"):
                values[key.strip()] = _value(value)
        device = values.get("DEVICE") or name.removeprefix("ifcfg-")
        proto = values.get("BOOTPROTO", "")
        if proto.startswith("dhcp"):
            method = "dhcp"
        elif proto in ("static", "none", ""):  # RHEL's default is none: an address or nothing
            method = "static" if proto == "static" or values.get("IPADDR") else "other"
        else:
            method = "other"
        return [InterfaceConfig(path, device, method)]
    if path.startswith("/etc/netplan/"):
        out, current = [], ""
        for line in lines:
            m = re.match(r"^\s{2,}([A-Za-z0-9_.*-]+):\s*$", line)
            if m and m.group(1) not in ("ethernets", "match", "dhcp4-overrides", "routes"):
                current = m.group(1)
            m = re.match(r"^\s*(dhcp4|addresses)\s*:\s*(.*)$", line)
            if m and current:
                dhcp = m.group(1) == "dhcp4" and _value(m.group(2)) in ("true", "yes", "on")
                kind = "dhcp" if dhcp else "static" if m.group(1) == "addresses" else "other"
                out.append(InterfaceConfig(path, current, kind))
        return out
    if path.startswith("/etc/network/interfaces"):
        return [
            InterfaceConfig(
                path, m.group(1), {"dhcp": "dhcp", "static": "static"}.get(m.group(2), "other")
            )
            for m in (re.match(r"^\s*iface\s+(\S+)\s+inet\s+(\S+)", ln) for ln in lines)
            if m and m.group(2) != "loopback"
        ]
    if path.startswith("/etc/NetworkManager/system-connections/"):
        keys: dict[tuple[str, str], str] = {}
        section = ""
        for line in lines:
            if line.strip().startswith("["):
                section = line.strip()
            key, sep, value = line.partition("=")
            if sep:
                keys.setdefault((section, key.strip()), value.strip())
        ident = keys.get(("[connection]", "interface-name")) or keys.get(("[connection]", "id"))
        method = keys.get(("[ipv4]", "method"), "")
        kind = {"auto": "dhcp", "manual": "static"}.get(method, "other")
        return [InterfaceConfig(path, ident or name, kind)]
    if path.endswith(".network"):
        match, dhcp, address = "", False, False
        for line in lines:
            key, sep, value = line.partition("=")
            if not sep or key.lstrip().startswith(("#", ";")):
                continue
            key = key.strip()
            if key == "Name":
                match = value.strip()
            elif key == "DHCP":
                dhcp = _value(value) in ("yes", "true", "ipv4", "1", "on")
            elif key == "Address":
                address = True
        kind = "dhcp" if dhcp else "static" if address else "other"
        return [InterfaceConfig(path, match or name, kind)]
    return []


def parse(text: str) -> NetworkConfig:
    """One ``### path`` section per file."""
    return NetworkConfig(
        {path: tuple(body.splitlines()) for path, body in sections(text).items() if path}
    )


_FILES = (
    "/etc/netplan/*.yaml",
    "/etc/network/interfaces",
    "/etc/network/interfaces.d/*",
    "/etc/sysconfig/network",
    "/etc/sysconfig/network-scripts/ifcfg-*",
    "/etc/NetworkManager/system-connections/*",
    "/etc/sysconfig/network/ifcfg-*",
    "/etc/sysconfig/network/dhcp",
    "/etc/systemd/network/*.network",
    "/etc/systemd/networkd.conf",
    "/usr/lib/systemd/networkd.conf",
    "/etc/dhcpcd.conf",
    "/etc/dhcp/dhclient.conf",
)


def read_offline(image: OfflineImage) -> str:
    """The same files, whole (300 lines of 500 bytes each at most), as the probe prints them."""
    out = []
    for path in (p for pattern in _FILES for p in image.glob(pattern)):
        if image.is_file(path):
            out.append(f"### {path}")
            out += [ln.encode()[:500].decode("utf-8", "replace") for ln in image.lines(path)[:300]]
    return "".join(f"{line}\n" for line in out)


FACT = fact(
    "network_config",
    parse,
    needs_root=True,  # NetworkManager keyfiles are readable by root only
    description="network configuration files (netplan, ifupdown, ifcfg, NetworkManager, "
    "systemd-networkd, SUSE dhcp, dhcpcd/dhclient), whole",
    offline=read_offline,
)
