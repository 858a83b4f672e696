"""The ``sshd`` fact: the effective sshd settings (``sshd -T``) and the ClientAliveInterval and
Include lines of the main ``/etc/ssh/sshd_config``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


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


_SSHD_KEYS = (
    "port",
    "clientaliveinterval",
    "clientalivecountmax",
    "permitrootlogin",
    "passwordauthentication",
)
_SSHD_DEFAULTS = {
    "port": "22",
    "clientaliveinterval": "0",
    "clientalivecountmax": "3",
    "permitrootlogin": "without-password",
    "passwordauthentication": "yes",
}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(value: str) -> str | None:
    """sshd's time format (``180``, ``3m``, ``1h30m``) in seconds; None when invalid."""
    parts = re.findall(r"(\d+)([smhdwSMHDW]?)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return str(sum(int(n) * _TIME_UNITS[u.lower()] for n, u in parts))


def _normalise(key: str, value: str) -> str | None:
    value = value.strip().strip('"')
    if key == "clientaliveinterval":
        return _seconds(value)
    if key in ("port", "clientalivecountmax"):
        return value if value.isdigit() else None
    value = value.lower()
    return "without-password" if value == "prohibit-password" else value


def _effective(image: OfflineImage, path: str, found: dict[str, str], depth: int) -> None:
    """First value of each keyword, following Include in place; a Match block ends the file's
    global part (``sshd -T`` without ``-C`` prints the global settings)."""
    if depth > 16 or not image.is_file(path):
        return
    for line in image.lines(path):
        m = re.match(r"\s*([A-Za-z]+)(?:\s*=\s*|\s+)(.*?)\s*$", line)
        if m is None or line.lstrip().startswith("#"):
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key == "match":
            return
        if key == "include":
            for word in value.split():
                pattern = word if word.startswith("/") else f"/etc/ssh/{word}"
                for included in image.glob(pattern):
                    _effective(image, included, found, depth + 1)
        elif key in _SSHD_KEYS and key not in found:
            normal = _normalise(key, value)
            if normal is not None:
                found[key] = normal


def read_offline(image: OfflineImage) -> str:
    """The effective settings from sshd_config and its Include drop-ins (sshd's defaults where
    unset), and the main file's ClientAliveInterval/Include lines."""
    out = ["### effective"]
    if not (image.is_executable("/usr/sbin/sshd") or image.is_executable("/usr/bin/sshd")):
        out.append("sshd_absent")
    else:
        found: dict[str, str] = {}
        _effective(image, "/etc/ssh/sshd_config", found, 0)
        out += [f"{key} {found.get(key, _SSHD_DEFAULTS[key])}" for key in _SSHD_KEYS]
        out.append("sshd_t_offline=from the configuration files (Include followed; not run)")
    out.append("### main_config")
    if image.is_file("/etc/ssh/sshd_config"):
        for number, line in enumerate(image.lines("/etc/ssh/sshd_config"), 1):
            if re.match(r"[ \t\n\r\v\f]*(clientaliveinterval|include)[ \t\n\r\v\f=]", line, re.I):
                out.append(f"{number}:{line}")
    return "\n".join(out) + "\n"


FACT = fact(
    "sshd",
    parse,
    needs_root=True,
    timeout=15,
    description=(
        "sshd -T effective settings and the ClientAliveInterval/Include lines of sshd_config"
    ),
    offline=read_offline,
    offline_note="effective values from sshd_config and its Include drop-ins (sshd -T is not run)",
)
