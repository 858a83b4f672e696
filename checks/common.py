"""Helpers shared by the check areas: version comparison, evidence text, the harness footprint."""

from __future__ import annotations

import re
from collections.abc import Iterable

from checks.facts.harness_footprint import FACT as HARNESS_FOOTPRINT
from checks.model import Facts

__all__ = [
    "BOTH",
    "ONLINE",
    "clip",
    "footprint_users",
    "version_ge",
    "version_key",
]

ONLINE = ("online",)
BOTH = ("online", "offline")

_TOKEN = re.compile(r"\d+|[A-Za-z]+|~")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key for distribution version strings (``4.19.37-5``, ``3.10.0-957.21.3.el7``).

    Digit runs compare numerically, letter runs lexically, ``~`` sorts before everything
    (Debian semantics); punctuation only separates.
    """
    key: list[tuple[int, int | str]] = []
    for tok in _TOKEN.findall(version):
        if tok == "~":
            key.append((-1, 0))
        elif tok.isdigit():
            key.append((1, int(tok)))
        else:
            key.append((0, tok))
    return tuple(key)


def version_ge(version: str, minimum: str) -> bool:
    """``version >= minimum`` by :func:`version_key`."""
    return version_key(version) >= version_key(minimum)


def footprint_users(facts: Facts) -> set[str]:
    """Accounts the harness itself added or logged in with (never counted against the image),
    from the ``harness_footprint`` fact (none when it was not supplied)."""
    footprint = facts.get(HARNESS_FOOTPRINT)
    return footprint.accounts if footprint is not None else set()


def clip(lines: Iterable[str], limit: int = 20) -> str:
    """Evidence text: at most ``limit`` lines, with a count of the rest."""
    items = list(lines)
    text = "\n".join(items[:limit])
    if len(items) > limit:
        text += f"\n… {len(items) - limit} more"
    return text
