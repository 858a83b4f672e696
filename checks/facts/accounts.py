"""The ``accounts`` fact: the password state of every account (never the hash itself) and every
authorized_keys entry of root and the /home users."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import sections


@dataclass(frozen=True)
class ShadowEntry:
    """One /etc/shadow line, reduced to the password's state."""

    user: str
    state: str
    """``hash`` (a usable password), ``empty`` or ``locked``."""


@dataclass(frozen=True)
class AuthorizedKey:
    """One key line of an authorized_keys file."""

    path: str
    owner: str
    kind: str
    """``key``, or ``stub`` for a cloud image's "Please login as" root entry."""


@dataclass(frozen=True)
class Accounts:
    """Password states and authorized keys."""

    shadow: tuple[ShadowEntry, ...]
    authorized_keys: tuple[AuthorizedKey, ...]


def parse(text: str) -> Accounts:
    """Parse the ``### shadow`` (``USER STATE``) and ``### authorized_keys`` (``PATH OWNER
    KIND``) sections; lines of another shape (a path with blanks) are left out."""
    parts = sections(text)
    shadow = []
    for line in (parts.get("shadow") or "").splitlines():
        words = line.split()
        if len(words) == 2:
            shadow.append(ShadowEntry(words[0], words[1]))
    keys = []
    for line in (parts.get("authorized_keys") or "").splitlines():
        words = line.split()
        if len(words) == 3:
            keys.append(AuthorizedKey(words[0], words[1], words[2]))
    return Accounts(tuple(shadow), tuple(keys))


FACT = fact(
    "accounts",
    parse,
    needs_root=True,
    description="password state per account (never the hash) and authorized_keys entries",
)
