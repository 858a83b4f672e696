"""Helpers shared by the online check areas: version comparison, fact parsing, footprint."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

from checks.model import Facts
from checks.probes import detect_family, parse_os_release, sections

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


def first_version(text: str) -> str | None:
    """The first dotted version number in ``text`` (``"OpenSSL 3.0.11 19 Sep"`` → ``3.0.11``)."""
    m = re.search(r"\d+(?:\.\d+)+[a-z]?", text)
    return m.group(0) if m else None


def key_values(text: str) -> dict[str, str]:
    """``key=value`` lines into a dict (the first ``=`` splits)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line:
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), v.strip())
    return out


def os_info(facts: Facts) -> dict[str, str]:
    """Parsed ``os_release`` fact (empty when not collected)."""
    raw = facts.get("os_release")
    return parse_os_release(raw) if isinstance(raw, str) else {}


def family(facts: Facts) -> str:
    """The distribution family from the ``os_release`` fact (``unknown`` without it)."""
    info = os_info(facts)
    return detect_family(info) if info else "unknown"


def footprint_users(facts: Facts) -> set[str]:
    """Accounts the harness itself added or logged in with (never counted against the image).

    Read from the ``harness_footprint`` fact that :func:`harness.probe_runner.run_checks`
    injects (keys ``user``/``users``: the login user of the harness).
    """
    fp: Any = facts.get("harness_footprint") or {}
    users: set[str] = set()
    if isinstance(fp, dict):
        if isinstance(fp.get("user"), str):
            users.add(fp["user"])
        for u in fp.get("users", []) or []:
            users.add(str(u))
    return users


def lsblk_pairs(text: str) -> list[dict[str, str]]:
    """Rows of ``lsblk -P`` output (``NAME="/dev/sda1" TYPE="part" ...``)."""
    rows = []
    for line in text.splitlines():
        if "=" not in line:
            continue
        row: dict[str, str] = {}
        for item in shlex.split(line):
            k, _, v = item.partition("=")
            row[k] = v
        rows.append(row)
    return rows


def section(facts: Facts, fact: str, name: str) -> str | None:
    """One ``### name`` section of a fact (None when the fact or section is missing)."""
    raw = facts.get(fact)
    if not isinstance(raw, str):
        return None
    return sections(raw).get(name)


def clip(lines: Iterable[str], limit: int = 20) -> str:
    """Evidence text: at most ``limit`` lines, with a count of the rest."""
    items = list(lines)
    text = "\n".join(items[:limit])
    if len(items) > limit:
        text += f"\n… {len(items) - limit} more"
    return text
