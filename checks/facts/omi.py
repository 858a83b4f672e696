"""The ``omi`` fact: the installed OMI (Open Management Infrastructure) version, if any."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.fact import fact

_VERSION = re.compile(r"(?:OMI-|omi\s+|omi-)(\d+\.\d+\.\d+(?:\.\d+|-\d+)?)")
"""LISA's ``_omi_version_pattern``: ``OMI-1.9.1-0``, ``omi 1.9.1.0``, ``omi-1.9.1-0.x86_64``."""


@dataclass(frozen=True)
class Omi:
    """OMI as installed: None when absent; ``text`` is what was printed."""

    version: str | None
    text: str = ""

    @property
    def installed(self) -> bool:
        return bool(self.text.strip())


def parse(text: str) -> Omi:
    """The first line's version (a ``-`` build suffix becomes ``.``, as LISA compares it)."""
    m = _VERSION.search(text)
    return Omi(m.group(1).replace("-", ".") if m else None, text.strip())


FACT = fact(
    "omi",
    parse,
    description="OMI version (omiserver --version, else the dpkg/rpm package)",
    offline_note="the package databases are read by a running system",
)
