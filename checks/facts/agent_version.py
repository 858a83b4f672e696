"""The ``agent_version`` fact: the installed WALinuxAgent version, from the package database or
else ``waagent --version``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.fact import fact


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


FACT = fact(
    "agent_version",
    parse,
    timeout=20,
    description="WALinuxAgent version from the package database, else `waagent --version`",
)
