"""The ``openssl`` fact: what ``openssl version`` prints (``absent`` without the tool)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.fact import fact

_VERSION = re.compile(r"\d+(?:\.\d+)+[a-z]?")


@dataclass(frozen=True)
class Openssl:
    """The OpenSSL (or LibreSSL) command-line tool's version."""

    text: str
    """The output without surrounding blanks (``""`` when nothing was printed)."""
    version: str | None
    """The first version number when the output names OpenSSL or LibreSSL (``3.0.15``,
    ``1.0.2k``), else None: not installed."""

    @property
    def banner(self) -> str:
        """The output's first line, e.g. ``OpenSSL 3.0.15 3 Sep 2024 (Library: ...)``."""
        return self.text.splitlines()[0] if self.text else ""


def parse(text: str) -> Openssl:
    """The version is read only from output that names OpenSSL or LibreSSL."""
    stripped = text.strip()
    m = _VERSION.search(stripped) if "OpenSSL" in stripped or "LibreSSL" in stripped else None
    return Openssl(text=stripped, version=m.group(0) if m else None)


FACT = fact("openssl", parse, description="openssl version")
