"""The ``glibc`` fact: the C library's upstream version and its distribution package version."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import key_values


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


FACT = fact("glibc", parse, description="glibc version (upstream and distribution package)")
