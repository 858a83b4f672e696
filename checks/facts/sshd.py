"""The ``sshd`` fact: the effective sshd settings (``sshd -T``) and the ClientAliveInterval and
Include lines of the main ``/etc/ssh/sshd_config``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from checks.fact import fact
from checks.parsing import sections


@dataclass(frozen=True)
class SshdConfig:
    """What sshd would use, and what its main configuration file says."""

    absent: bool
    """No sshd binary: no SSH server is installed."""
    effective: Mapping[str, str] = field(default_factory=dict)
    """Settings ``sshd -T`` printed (lower-case keyword -> value), the first of each wins."""
    client_alive_interval: int | None = None
    """The effective ClientAliveInterval (None when ``sshd -T`` printed none)."""
    main_client_alive_interval: int | None = None
    """ClientAliveInterval in the main sshd_config (the first uncommented line, as sshd reads)."""
    includes: tuple[str, ...] = ()
    """The main sshd_config's Include lines."""
    effective_text: str = ""
    """The ``sshd -T`` section as printed (evidence)."""
    main_text: str = ""
    """The main sshd_config section as printed (``lineno:text`` lines; evidence)."""


def _main_value(text: str) -> tuple[int | None, list[str]]:
    value: int | None = None
    includes: list[str] = []
    for line in text.splitlines():
        body = line.split(":", 1)[1] if re.match(r"^\d+:", line) else line
        m = re.match(r"^\s*ClientAliveInterval(?:\s+|\s*=\s*)(\d+)", body, re.IGNORECASE)
        if m and value is None:
            value = int(m.group(1))
        elif re.match(r"^\s*Include\b", body, re.IGNORECASE):
            includes.append(body.strip())
    return value, includes


def parse(text: str) -> SshdConfig:
    """Parse the probe's ``### effective`` and ``### main_config`` sections."""
    parts = sections(text)
    effective_text = parts.get("effective") or ""
    main_text = parts.get("main_config") or ""
    settings: dict[str, str] = {}
    for line in effective_text.splitlines():
        key, _, value = line.partition(" ")
        if value and not key.startswith("sshd_"):
            settings.setdefault(key.lower(), value.strip())
    m = re.search(r"^clientaliveinterval (\d+)", effective_text, re.MULTILINE)
    main, includes = _main_value(main_text)
    return SshdConfig(
        absent="sshd_absent" in effective_text,
        effective=settings,
        client_alive_interval=int(m.group(1)) if m else None,
        main_client_alive_interval=main,
        includes=tuple(includes),
        effective_text=effective_text,
        main_text=main_text,
    )


FACT = fact(
    "sshd",
    parse,
    needs_root=True,
    timeout=15,
    description=(
        "sshd -T effective settings and the ClientAliveInterval/Include lines of sshd_config"
    ),
)
