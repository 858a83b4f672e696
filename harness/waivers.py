"""Waivers: accepted exceptions, read from a TOML or YAML file.

TOML::

    [[waiver]]
    check = "no_lvm_os_disk"
    justification = "LVM is part of the appliance design (ticket OPS-12)"
    expires = 2027-06-30          # optional; a TOML date or "YYYY-MM-DD"
    run = true                    # optional; false = do not run the check at all

YAML: a list of the same mappings, or a mapping with a ``waivers`` (or ``waiver``) list.

The entries are :class:`checks.waivers.WaiverEntry` objects; how they change results is
:mod:`checks.waivers`' job (a waived failure does not fail the run, an expired waiver no longer
applies, ``run = false`` skips the check).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from checks.waivers import WaiverEntry
from harness.errors import ConfigError

__all__ = ["WaiverEntry", "load_waivers"]

_KEYS = {"check", "justification", "expires", "run"}


def _entries(data: Any, path: Path) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        extra = set(data) - {"waiver", "waivers"}
        if extra:
            raise ConfigError(
                f"{path}: unknown top-level key(s) {', '.join(sorted(extra))}; "
                "write entries as [[waiver]] tables (TOML) or a `waivers:` list (YAML)"
            )
        items = data.get("waivers", data.get("waiver", []))
        if isinstance(items, list):
            return items
    if data is None:
        return []
    raise ConfigError(f"{path}: expected a list of waivers ([[waiver]] in TOML, a list in YAML)")


def _date(value: Any, path: Path, index: int) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{path}: waiver #{index + 1}: expires must be a date like 2027-06-30")


def load_waivers(path: str | Path, known_checks: Iterable[str] | None = None) -> list[WaiverEntry]:
    """Parse a waiver file (``.toml``, ``.yaml``/``.yml``). Every problem is a one-line
    :class:`ConfigError` naming the file and the fix. ``known_checks`` validates check ids."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"waiver file {path}: cannot read ({exc.strerror}); check the path"
        ) from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{path}: waiver files must end in .toml, .yaml or .yml")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except yaml.YAMLError as exc:
        msg = str(exc).replace("\n", " ")
        raise ConfigError(f"{path}: not valid YAML ({msg}); fix the syntax") from None
    known = set(known_checks) if known_checks is not None else None
    entries: list[WaiverEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(_entries(data, path)):
        where = f"{path}: waiver #{index + 1}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a table with check and justification")
        extra = set(raw) - _KEYS
        if extra:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(extra))}; "
                f"allowed: {', '.join(sorted(_KEYS))}"
            )
        check = raw.get("check")
        if not isinstance(check, str) or not check:
            raise ConfigError(f"{where}: `check` (a check id) is required")
        if known is not None and check not in known:
            raise ConfigError(f"{where}: no check is called {check!r}; see `vmcert checks`")
        justification = raw.get("justification")
        if not isinstance(justification, str) or not justification.strip():
            raise ConfigError(f"{where} ({check}): a non-empty `justification` is required")
        run = raw.get("run", True)
        if not isinstance(run, bool):
            raise ConfigError(f"{where} ({check}): `run` must be true or false")
        if check in seen:
            raise ConfigError(f"{where}: a second waiver for {check!r}; keep one entry per check")
        seen.add(check)
        entries.append(
            WaiverEntry(check, justification.strip(), _date(raw.get("expires"), path, index), run)
        )
    return entries
