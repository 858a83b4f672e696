"""The ``accounts`` fact: the password state of every account (never the hash itself) and every
authorized_keys entry of root and the /home users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


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


def read_offline(image: OfflineImage) -> str:
    """What ``accounts.sh`` prints, from the image's /etc/shadow, passwd and home directories."""
    out = ["### shadow"]
    if image.is_file("/etc/shadow"):
        for line in image.lines("/etc/shadow"):
            fields = line.split(":", 2)
            user, secret = fields[0], fields[1] if len(fields) > 1 else ""
            if secret == "":
                state = "empty"
            elif secret[0] in "!*" or secret == "x":
                state = "locked"
            else:
                state = "hash"
            out.append(f"{user} {state}")
    out.append("### authorized_keys")
    found: list[str] = []
    for pattern in (
        "/root/.ssh/authorized_keys",
        "/root/.ssh/authorized_keys2",
        "/home/*/.ssh/authorized_keys",
        "/home/*/.ssh/authorized_keys2",
    ):
        for path in image.glob(pattern):
            stat = image.stat(path)
            if stat is not None and stat.size > 0:  # [ -s ]
                found.append(path)
    for path in found:
        link = image.stat(path, follow=False)
        if link is None or not image.is_file(path):
            continue
        owner = image.owner(link)
        for line in image.lines(path):
            text = line.lstrip(" \t\n\r\v\f")
            if text == "" or text.startswith("#"):
                continue
            stub = (
                'command="echo' in text and "Please login as" in text.split('command="echo', 1)[1]
            )
            out.append(f"{path} {owner} {'stub' if stub else 'key'}")
    return "\n".join(out) + "\n"


FACT = fact(
    "accounts",
    parse,
    needs_root=True,
    description="password state per account (never the hash) and authorized_keys entries",
    offline=read_offline,
    shipped=True,
)
