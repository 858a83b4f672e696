"""Local accounts, server-side sessions, CSRF tokens and bearer tokens.

Passwords are stored as PBKDF2-SHA256 hashes; sessions live in this process only (a restart
signs everyone out), keyed by a random cookie value; every session has its own CSRF token, which
every form carries and every POST must echo. Bearer tokens are compared by their SHA-256 digest,
so the configuration never holds a token itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

PBKDF2_ROUNDS = 310_000
SESSION_COOKIE = "vmcert_session"
SIGNIN_COOKIE = "vmcert_signin"
"""Carries the sign-in form's CSRF token before a session exists (double submit)."""


def hash_password(password: str, *, rounds: int = PBKDF2_ROUNDS) -> str:
    """``pbkdf2_sha256$ROUNDS$SALT$HASH`` for an accounts file."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    encode = base64.urlsafe_b64encode
    return f"pbkdf2_sha256${rounds}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, rounds, salt, digest = stored.split("$")
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.urlsafe_b64decode(salt), int(rounds)
        )
    except ValueError:
        return False
    return scheme == "pbkdf2_sha256" and hmac.compare_digest(actual, expected)


def token_digest(token: str) -> str:
    """The SHA-256 hex digest a configuration keeps instead of the bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_name(tokens: Mapping[str, str], header: str | None) -> str | None:
    """The name of the token in an ``Authorization: Bearer ...`` header, if it is valid."""
    if not header or not header.lower().startswith("bearer "):
        return None
    digest = token_digest(header[7:].strip())
    for known, name in tokens.items():
        if hmac.compare_digest(known, digest):
            return name
    return None


def same_token(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


@dataclass
class Session:
    user: str
    csrf: str
    expires: float
    flash: list[tuple[str, str]] = field(default_factory=list)
    """(level, text) notices shown once on the next page."""


class Sessions:
    """Signed-in sessions by cookie value; thread-safe, expiring."""

    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lifetime = lifetime
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user: str) -> tuple[str, Session]:
        key = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), self._clock() + self._lifetime)
        with self._lock:
            now = self._clock()
            for stale in [k for k, s in self._sessions.items() if s.expires < now]:
                del self._sessions[stale]
            self._sessions[key] = session
        return key, session

    def get(self, key: str | None) -> Session | None:
        if not key:
            return None
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and session.expires < self._clock():
                del self._sessions[key]
                return None
            return session

    def end(self, key: str | None) -> None:
        if key:
            with self._lock:
                self._sessions.pop(key, None)
