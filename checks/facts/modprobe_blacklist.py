"""The ``modprobe_blacklist`` fact: modprobe.d lines that blacklist ``udf`` or ``vfat`` or
redirect their loading (``install``)."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact


@dataclass(frozen=True)
class ModprobeLine:
    """One ``blacklist``/``install`` line of a modprobe.d file."""

    path: str
    text: str
    """The line without surrounding blanks, e.g. ``install vfat /bin/true``."""


@dataclass(frozen=True)
class ModprobeBlacklist:
    """Every such line, in the probe's order (none: both modules can load)."""

    lines: tuple[ModprobeLine, ...] = ()


def parse(text: str) -> ModprobeBlacklist:
    """``path:line`` lines (as ``grep -H`` prints them); other lines are ignored."""
    found: list[ModprobeLine] = []
    for line in text.splitlines():
        path, colon, rest = line.partition(":")
        if colon:
            found.append(ModprobeLine(path, rest.strip()))
    return ModprobeBlacklist(tuple(found))


FACT = fact(
    "modprobe_blacklist",
    parse,
    description="modprobe.d lines that blacklist or redirect udf/vfat",
)
