"""What the web application needs to know besides the store: who may sign in, which API tokens
are valid, cookie and limit settings."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError


class WebConfigError(ConfigError):
    """The accounts file or a web option is invalid."""


@dataclass(frozen=True)
class WebConfig:
    """Settings of the console and API (the pipeline's own settings stay in PublishSettings)."""

    accounts: Mapping[str, str] = field(default_factory=dict)
    """User name -> password hash (:func:`harness.web.auth.hash_password`)."""
    api_tokens: Mapping[str, str] = field(default_factory=dict)
    """SHA-256 hex digest of a bearer token -> the name it acts as in the history."""
    secure_cookies: bool = True
    """Mark cookies ``Secure`` (browsers accept them on http://127.0.0.1 and localhost)."""
    session_seconds: float = 8 * 3600.0
    max_body_bytes: int = 64 * 1024
    """Largest request body the API and the sign-in form accept (413 above)."""
    rate_per_minute: int = 120
    """Requests per minute per bearer token (or client address) on the API (429 above)."""
    signin_per_minute: int = 10
    """Sign-in attempts per minute per client address."""
    page_size: int = 100
    """Offers per page of All offers."""


def load_accounts(path: Path) -> dict[str, str]:
    """The ``[accounts]`` table of a TOML file: ``name = "pbkdf2_sha256$..."``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WebConfigError(f"{path}: cannot read the accounts file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WebConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("accounts")
    if not isinstance(table, dict) or not table:
        raise WebConfigError(
            f"{path}: needs an [accounts] table of name = password hash "
            "(make a hash with `vmcert serve --hash-password`)"
        )
    accounts: dict[str, str] = {}
    for name, value in table.items():
        if not isinstance(value, str) or not value.startswith("pbkdf2_sha256$"):
            raise WebConfigError(
                f"{path}: accounts.{name}: expected a hash from `vmcert serve --hash-password`"
            )
        accounts[name] = value
    return accounts
