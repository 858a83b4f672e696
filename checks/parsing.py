"""Text helpers the fact parsers share: ``### name`` sections and ``key=value`` lines."""

from __future__ import annotations

import re

_SECTION = re.compile(r"^### (\S+)\s*$", re.MULTILINE)


def sections(text: str) -> dict[str, str]:
    """Split probe output on ``### name`` lines into ``{name: body}`` (text before the first is
    kept under ``""``). A name that repeats gets its bodies joined."""
    result: dict[str, str] = {}
    parts = _SECTION.split(text)
    if parts[0].strip():
        result[""] = parts[0]
    for i in range(1, len(parts) - 1, 2):
        name, body = parts[i], parts[i + 1].lstrip("\n")
        result[name] = result[name] + body if name in result else body
    return result


def key_values(text: str) -> dict[str, str]:
    """``key=value`` lines into a dict (the first ``=`` splits; the first occurrence wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line:
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), v.strip())
    return out
