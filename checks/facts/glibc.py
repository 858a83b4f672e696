"""The ``glibc`` fact: the C library's upstream version and its distribution package version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import key_values

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class Glibc:
    """glibc's versions; None when the probe could not tell."""

    upstream: str | None
    """``getconf GNU_LIBC_VERSION`` (or ``ldd --version``): ``2.36``."""
    package: str | None = None
    """The distribution's package version (dpkg/rpm): ``2.36-9+deb12u9``, ``2.17-55.el7_0.5``."""


def parse(text: str) -> Glibc:
    """The first version number before any ``package=`` line, and the ``package=`` value."""
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", text.split("package=")[0])
    return Glibc(
        upstream=m.group(1) if m else None, package=key_values(text).get("package") or None
    )


_LIBC = (
    "/lib/*-linux-gnu/libc.so.6",
    "/usr/lib/*-linux-gnu/libc.so.6",
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/lib/libc.so.6",
    "/usr/lib/libc.so.6",
)


def read_offline(image: OfflineImage) -> str:
    """``getconf GNU_LIBC_VERSION`` from the C library's own version string, and the package
    version from the package database (per family, as the probe's variants print it)."""
    from checks.offline.packages import installed

    out = []
    for path in (p for pattern in _LIBC for p in image.glob(pattern)):
        if image.is_file(path):
            data = image.read_bytes(path, 64 * 1024 * 1024)
            m = re.search(rb"GNU C Library [^\x00]*?release version (\d+\.\d+(?:\.\d+)?)", data)
            if m:
                out.append(f"glibc {m.group(1).decode()}")
                break
    if image.family == "debian" and image.command("dpkg-query"):
        out += [f"package={p.version}" for p in image.packages.get("libc6")]
    elif image.family in ("rhel", "suse", "azurelinux") and image.command("rpm"):
        package = installed(image.packages, "glibc")
        if package is not None:
            out.append(f"package={package.version}")
    return "".join(f"{line}\n" for line in out)


FACT = fact(
    "glibc",
    parse,
    description="glibc version (upstream and distribution package)",
    offline=read_offline,
)
