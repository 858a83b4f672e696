"""The ``hv_kvp`` fact: whether the Hyper-V KVP daemon is installed and enabled."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact
from checks.facts.ssh_service import systemd_error


@dataclass(frozen=True)
class HvKvp:
    """The daemon's binaries and its units (``name state``)."""

    binaries: tuple[str, ...] = ()
    units: tuple[tuple[str, str], ...] = ()
    systemd_error: str = ""
    """Why systemd gave no unit states (see :attr:`checks.facts.ssh_service.SshService`)."""

    @property
    def enabled(self) -> bool:
        return any(state in ("enabled", "static", "alias", "indirect") for _, state in self.units)


def parse(text: str) -> HvKvp:
    """``binary=PATH`` and ``unit=NAME STATE`` lines."""
    binaries, units = [], []
    for line in text.splitlines():
        if line.startswith("binary="):
            binaries.append(line.partition("=")[2])
        elif line.startswith("unit="):
            name, _, state = line.partition("=")[2].partition(" ")
            units.append((name, state))
    return HvKvp(tuple(binaries), tuple(units), systemd_error(text))


FACT = fact(
    "hv_kvp",
    parse,
    description="Hyper-V KVP daemon binary and unit state (hv_kvp_daemon, hypervkvpd)",
    offline_note="unit states are read from a running systemd",
)
