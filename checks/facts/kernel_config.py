"""The ``kernel_config`` fact: the running kernel's CONFIG_WATCHDOG and CONFIG_CIFS settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from checks.fact import fact


@dataclass(frozen=True)
class KernelConfig:
    """Options of the kernel's build configuration (``y``, ``m``, or ``n`` when "is not set")."""

    source: str
    """The file read (``/boot/config-RELEASE``, ``/proc/config.gz``) or ``none``."""
    options: Mapping[str, str] = field(default_factory=dict)

    def enabled(self, option: str) -> bool:
        """Built in or a loadable module, as LISA's ``KernelConfig.is_enabled`` reads it."""
        return self.options.get(option) in ("y", "m")


def parse(text: str) -> KernelConfig:
    """``source=`` and ``CONFIG_X=v`` / ``# CONFIG_X is not set`` lines."""
    source = "none"
    options: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("source="):
            source = line.partition("=")[2]
        elif line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            options[key] = value.strip()
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            options[line[2:].split()[0]] = "n"
    return KernelConfig(source, options)


FACT = fact(
    "kernel_config",
    parse,
    description="CONFIG_WATCHDOG and CONFIG_CIFS of the running kernel's build configuration",
    offline_note="the running kernel's configuration (the offline kernel fact names the file)",
)
