"""The ``agent_version`` fact: the installed WALinuxAgent version, from the package database or
else ``waagent --version``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class AgentVersion:
    """The agent's version, if installed."""

    version: str | None
    """The upstream version (``2.9.1.1``), None when the agent is not installed."""
    source: str
    """Where it was read (``package 2.9.1.1-1``, the ``waagent --version`` line) or, without a
    version, the start of what the probe printed."""


def parse(text: str) -> AgentVersion:
    """The first ``package=VERSION`` line (an epoch is dropped), else the first
    ``WALinuxAgent-VERSION`` of ``waagent --version``."""
    for line in text.splitlines():
        if line.startswith("package="):
            v = line.split("=", 1)[1].strip()
            m = re.match(r"(?:\d+:)?(\d+(?:\.\d+)+)", v)
            return AgentVersion(m.group(1) if m else None, f"package {v}")
        m = re.search(r"WALinuxAgent-(\d+(?:\.\d+)+)", line)
        if m:
            return AgentVersion(m.group(1), line.strip())
    return AgentVersion(None, text.strip()[:200])


_AGENT_SOURCES = (
    "/usr/lib/python3/dist-packages/azurelinuxagent/common/version.py",
    "/usr/lib/python3*/site-packages/azurelinuxagent/common/version.py",
    "/usr/lib/python3*/dist-packages/azurelinuxagent/common/version.py",
    "/usr/local/lib/python3*/*-packages/azurelinuxagent/common/version.py",
)


def read_offline(image: OfflineImage) -> str:
    """The agent's package version (dpkg or rpm), else the version ``waagent --version`` would
    print, read from the agent's own source (``AGENT_VERSION``)."""
    from checks.offline.image import OfflineError
    from checks.offline.packages import installed

    if image.command("dpkg-query"):
        for name in ("waagent", "walinuxagent"):
            for package in image.packages.get(name):
                if " installed " in f"{package.status} {package.version} " and package.version:
                    return f"package={package.version}\n"
    if image.command("rpm"):
        for name in ("WALinuxAgent", "python-azure-agent", "python3-azure-agent"):
            rpm = installed(image.packages, name)
            if rpm is not None:
                return f"package={rpm.version}\n"
    for tool in ("/usr/sbin/waagent", "/usr/bin/waagent", "/usr/local/sbin/waagent"):
        if image.is_executable(tool):
            for path in (p for pattern in _AGENT_SOURCES for p in image.glob(pattern)):
                m = re.search(
                    r"^AGENT_VERSION\s*=\s*['\"]([^'\"]+)['\"]", image.read_text(path), re.M
                )
                if m:
                    return f"WALinuxAgent-{m.group(1)}\n"
            raise OfflineError(f"{tool} is installed but its version cannot be read offline")
    return ""


FACT = fact(
    "agent_version",
    parse,
    timeout=20,
    description="WALinuxAgent version from the package database, else `waagent --version`",
    offline=read_offline,
)
