"""Secret values (storage keys, lead connection strings, SMTP passwords) and their masking.

A secret is read from the environment (``*_env`` keys) or, discouraged, inline; either way its
value is kept in a :class:`Secret`, whose ``str``/``repr`` never show it, and registered with a
:class:`Masker`. Everything the pipeline shows or writes (status, history, e-mail, logs, the
support bundle) goes through :meth:`Masker.mask`, which also removes, whatever their value,
account keys and SAS signatures and the values of secret-named keys in TOML text.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

MASK = "***"

SECRET_KEYS = ("connection_string", "account_key", "sas_token", "password", "token")
"""TOML keys whose inline values are secrets (``*_env`` keys name a variable, not a secret)."""

_PATTERNS = (
    re.compile(r"(?i)(AccountKey=)[^;\s\"']+"),
    re.compile(r"(?i)(SharedAccessSignature=)[^;\s\"']+"),
    re.compile(r"(?i)(\bsig=)[^&\s\"';,]+"),
    re.compile(
        r"(?im)^(\s*(?:" + "|".join(SECRET_KEYS) + r")\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')"
    ),
)


@dataclass(frozen=True)
class Secret:
    """A secret value with where it came from; shown as ``***`` (or the variable's name)."""

    value: str = field(repr=False)
    source: str = "inline"
    """``env:NAME`` or ``inline``: what is safe to show instead of the value."""

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self.source})"


class Masker:
    """Known secret values plus the value-independent patterns; thread-safe."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | Secret | None) -> None:
        """Remember a secret (and its URL-quoted forms); values under 4 characters are ignored
        because masking them would garble ordinary text."""
        raw = value.value if isinstance(value, Secret) else value
        if not raw or len(raw) < 4:
            return
        with self._lock:
            self._values.update({raw, quote(raw, safe=""), quote_plus(raw)})
        _register_with_replication(raw)

    def mask(self, text: str) -> str:
        """``text`` with every known secret and secret-looking value replaced by ``***``."""
        with self._lock:
            known = sorted(self._values, key=len, reverse=True)
        for value in known:
            if value in text:
                text = text.replace(value, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + _masked_like(m), text)
        return text


def _masked_like(match: re.Match[str]) -> str:
    """A quoted TOML value stays a quoted value (the masked file still parses)."""
    if match.lastindex is not None and match.lastindex >= 2:
        return f'"{MASK}"'
    return MASK


def _register_with_replication(value: str) -> None:
    """Replication scrubs its own logs and records with its registry; give it ours too."""
    try:
        from harness.replication.redaction import register_secret
    except ImportError:  # pragma: no cover - the replication package is part of vmcert
        return
    register_secret(value)
