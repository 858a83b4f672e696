"""Secrets out of every output: registered values and known secret patterns are scrubbed.

Every secret that replication loads or makes (account keys, SAS tokens, connection strings) is
registered with :func:`register_secret`; :func:`redact` removes those values and, whatever their
value, SAS signatures, account keys in connection strings and SharedKey headers. The log record
factory installed by :func:`install_redaction` applies it to every log record.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping

REDACTED = "***REDACTED***"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()

# Patterns that are secrets whatever their value: SAS signatures, keys in connection strings,
# SharedKey authorization headers. The value part stops at URL/connection-string separators.
_PATTERNS = [
    re.compile(r"(?i)(\bsig=)[^&\s\"';,]+"),
    re.compile(r"(?i)(AccountKey=)[^;\s\"']+"),
    re.compile(r"(?i)(SharedAccessSignature=)[^;\s\"']+"),
    re.compile(r"(?i)(SharedKey(?:Lite)?\s+[A-Za-z0-9]+:)[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)(x-ms-copy-source-authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"),
]


def register_secret(value: str | None) -> None:
    """Remember a secret value (and its URL-quoted forms) so :func:`redact` removes it."""
    if not value or len(value) < 6:
        return
    from urllib.parse import quote, quote_plus

    with _secrets_lock:
        _secrets.update({value, quote(value, safe=""), quote_plus(value)})
        if value.startswith("?"):
            _secrets.add(value[1:])


def redact(text: str) -> str:
    """Return ``text`` with every known secret and every SAS signature/account key scrubbed."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact_obj(value: object) -> object:
    """Redact every string inside a JSON-like structure (dicts, lists, tuples)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in value]
    return value


def short_error(exc: BaseException) -> str:
    """One redacted line for an exception (Azure errors carry multi-line XML)."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    code: object = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # the SDK's StorageErrorCode enum -> its wire spelling
    status: object = getattr(exc, "status_code", None)
    prefix = f"HTTP {status} {code}: " if status and code else ""
    return redact(f"{prefix}{line}")[:300]


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from the message, its arguments and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_installed = False


def install_redaction() -> None:
    """Scrub secrets from every log record created from now on, whatever logger or handler.

    Wrapping the record factory (rather than one handler) also covers handlers added later, such
    as a test's ``caplog`` or the Azure SDK's HTTP logging.
    """
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()
    scrub = RedactingFilter()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub.filter(record)
        return record

    logging.setLogRecordFactory(factory)
