"""QEMU's ``key=value,key=value`` option strings, with values escaped.

QemuOpts splits on commas, and a literal comma inside a value is written twice. Every value the
emulator puts on QEMU's command line (paths from the run directory, SMBIOS strings, relay
commands) goes through :func:`join_options` so that a comma in a path cannot inject an option.
"""

from __future__ import annotations


def escape_value(value: str) -> str:
    """``value`` with each comma doubled, as QemuOpts expects inside one value."""
    return value.replace(",", ",,")


def join_options(head: str, *pairs: tuple[str, str]) -> str:
    """``head,k1=v1,k2=v2`` with every value escaped (``head`` is written as is)."""
    parts = [head] if head else []
    parts.extend(f"{key}={escape_value(value)}" for key, value in pairs)
    return ",".join(parts)
