"""The ``accounts`` fact: the password state of every account (never the hash itself) and every
authorized_keys entry of root and the /home users."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import key_values, sections

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
class Login:
    """Who the probe ran for (the harness's login user), identified by uid, and the boot time."""

    uid: int | None = None
    user: str = ""
    """The passwd name of ``uid`` (``""`` when no entry has it)."""
    home: str = ""
    btime: int | None = None


@dataclass(frozen=True)
class Accounts:
    """Password states and authorized keys."""

    shadow: tuple[ShadowEntry, ...]
    authorized_keys: tuple[AuthorizedKey, ...]
    key_ids: Mapping[str, tuple[int | None, int | None]] = field(default_factory=dict)
    """Key file path -> (uid, mtime), when the probe gave them."""
    login: Login = field(default_factory=Login)

    def harness_key_file(self, path: str, *, this_boot: bool = True) -> bool:
        """Whether a key file is the login's own: owned by the login uid, in its home and (with
        ``this_boot``, when the harness created that user) written during this boot. Never
        decided by an owner's name."""
        uid, mtime = self.key_ids.get(path, (None, None))
        home = self.login.home.rstrip("/")
        fresh = self.login.btime is not None and mtime is not None and mtime >= self.login.btime
        return (
            self.login.uid is not None
            and uid == self.login.uid
            and home != ""
            and path.startswith(home + "/")
            and (fresh or not this_boot)
        )


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
    ids: dict[str, tuple[int | None, int | None]] = {}
    for line in (parts.get("key_ids") or "").splitlines():
        words = line.split(None, 2)
        if len(words) == 3:
            ids[words[2]] = (_int(words[0]), _int(words[1]))
    kv = key_values(parts.get("login") or "")
    login = Login(_int(kv.get("uid", "")), kv.get("user", ""), kv.get("home", ""))
    login = Login(login.uid, login.user, login.home, _int(kv.get("btime", "")))
    return Accounts(tuple(shadow), tuple(keys), ids, login)


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None


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
    for path in dict.fromkeys(_key_files(image)):
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
    out.append("### key_ids")
    for path in found:
        link = image.stat(path, follow=False)
        if link is not None and image.is_file(path):
            out.append(f"{link.uid} {link.mtime or 0} {path}")
    return "\n".join(out) + "\n"


def _expand(pattern: str, home: str, user: str) -> str:
    """sshd's AuthorizedKeysFile tokens: %h the home, %u the user, %% a percent sign."""
    tokens = {"h": home, "u": user, "%": "%"}
    return re.sub(r"%(.)", lambda m: tokens.get(m.group(1), ""), pattern)


def _key_files(image: OfflineImage) -> list[str]:
    """The key files ``accounts.sh`` considers, expanded for /root, every /home directory and
    every passwd home: AuthorizedKeysFile as sshd applies it to the probe's connection (sshd's
    default when there is no sshd, sshd would refuse the configuration, or it says ``none``),
    then every AuthorizedKeysFile word of sshd_config and its Include files, Match blocks or not
    (:func:`checks.facts.sshd.configured_values`): a file any account could be let in with."""
    from checks.facts.sshd import configured_values, effective_settings, sshd_release

    default = ".ssh/authorized_keys .ssh/authorized_keys2"
    value = default
    if image.is_executable("/usr/sbin/sshd") or image.is_executable("/usr/bin/sshd"):
        try:
            value = effective_settings(
                image, release=sshd_release(image), keys=("authorizedkeysfile",)
            )["authorizedkeysfile"]
        except ValueError:  # sshd -T fails too: the probe falls back to the default
            value = default
    patterns = (value if value not in ("", "none") else default).split()
    patterns += configured_values(image, "authorizedkeysfile")
    pairs = [("root", "/root")]
    pairs += [(d.rsplit("/", 1)[-1], d) for d in image.glob("/home/*") if image.is_dir(d)]
    if image.is_file("/etc/passwd"):
        for line in image.lines("/etc/passwd"):
            fields = (line.split(":") + [""] * 7)[:7]
            if fields[5] not in ("", "/") and image.is_dir(fields[5]):
                pairs.append((fields[0], fields[5]))
    files = []
    for user, home in pairs:
        for pattern in patterns:
            path = _expand(pattern, home, user)
            files.append(path if path.startswith("/") else f"{home}/{path}")
    return files


FACT = fact(
    "accounts",
    parse,
    needs_root=True,
    description="password state per account (never the hash) and authorized_keys entries",
    offline=read_offline,
    shipped=True,
)
