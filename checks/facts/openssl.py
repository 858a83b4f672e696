"""The ``openssl`` fact: what ``openssl version`` prints (``absent`` without the tool)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage

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


# SUSE's builds end the version text with their package release ("OpenSSL 1.1.1l  24 Aug 2021
# SUSE release 150500.17.25.1", as `openssl version` prints it on SLES 15)
_VERSION_TEXT = re.compile(
    rb"\x00((?:OpenSSL|LibreSSL) \d+\.\d+\.\d+[a-z]*(?:-[A-Za-z0-9]+)?[^\x00]{0,40}?"
    rb"\d{1,2} [A-Z][a-z]{2} \d{4}(?: SUSE release [0-9.]+)?)\x00"
)
_LIBCRYPTO = (
    "/usr/lib/*-linux-gnu/libcrypto.so.*",
    "/lib/*-linux-gnu/libcrypto.so.*",
    "/usr/lib64/libcrypto.so.*",
    "/lib64/libcrypto.so.*",
    "/usr/lib/libcrypto.so.*",
)


def _version_text(image: OfflineImage, path: str) -> str | None:
    m = _VERSION_TEXT.search(image.read_bytes(path, 64 * 1024 * 1024))
    return m.group(1).decode("ascii", "replace") if m else None


def read_offline(image: OfflineImage) -> str:
    """``openssl version``: the tool's built-in version text (and its library's), ``absent``
    without the tool."""
    from checks.offline.image import OfflineError

    tool = image.command("openssl")
    if tool is None:
        return "absent\n"
    text = _version_text(image, tool)
    library = None
    for path in (p for pattern in _LIBCRYPTO for p in image.glob(pattern)):
        if image.is_file(path) and (library := _version_text(image, path)):
            break
    text = text or library
    if text is None:
        raise OfflineError(f"{tool}: no OpenSSL version text in the tool or libcrypto")
    if library and (library != text or not text.startswith(("OpenSSL 0", "OpenSSL 1"))):
        return f"{text} (Library: {library})\n"
    return f"{text}\n"


FACT = fact(
    "openssl",
    parse,
    description="openssl version",
    offline=read_offline,
)
