"""The ``network`` fact: the default route, IPv4 addresses, persistent-net udev rules and network
configuration files."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import sections


@dataclass(frozen=True)
class Network:
    """The IPv4 network as configured and as it came up."""

    default_route: str
    """``ip -4 route show default`` (empty without a default route)."""
    addresses: tuple[str, ...]
    """``ip -o -4 addr show`` lines; ``dynamic`` in a line means a DHCP lease."""
    persistent_rules: tuple[str, ...]
    """70-persistent-net.rules / 75-persistent-net-generator.rules files that exist."""
    config_files: tuple[str, ...]
    """Network configuration files (netplan, ifcfg, NetworkManager, networkd, interfaces)."""


def parse(text: str) -> Network:
    """Parse the ``### default_route``, ``addresses``, ``persistent_rules`` and
    ``config_files`` sections."""
    secs = sections(text)
    return Network(
        default_route=(secs.get("default_route") or "").strip(),
        addresses=tuple(ln for ln in (secs.get("addresses") or "").splitlines() if ln.strip()),
        persistent_rules=tuple((secs.get("persistent_rules") or "").split()),
        config_files=tuple((secs.get("config_files") or "").split()),
    )


FACT = fact(
    "network",
    parse,
    description=(
        "default route, IPv4 addresses (dynamic = DHCP), persistent-net rules, config files"
    ),
    offline_note="addresses and routes come from DHCP on a running system",
)
