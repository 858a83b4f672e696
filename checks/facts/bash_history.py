"""The ``bash_history`` fact: every shell history file in every home directory on the disk, who
owns it, the accounts and their shells, and the uid the probe ran for (the harness's login)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import key_values, sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class HistoryFile:
    """One history file (``stat -c '%s %U %n'``, with ``%u %Y`` when the probe gave them)."""

    size: int
    owner: str
    path: str
    uid: int | None = None
    mtime: int | None = None

    @property
    def bash(self) -> bool:
        """A bash history (``.bash_history``), the file Microsoft's "Bash History" test reads."""
        return self.path.rsplit("/", 1)[-1] == ".bash_history"


@dataclass(frozen=True)
class Account:
    """One /etc/passwd entry."""

    name: str
    uid: int | None
    home: str
    shell: str

    @property
    def uses_shell(self) -> bool:
        """LISA's test: the login shell's name ends in ``sh`` (bash, sh, zsh, ksh, csh …)."""
        return self.shell.endswith("sh")


@dataclass(frozen=True)
class BashHistory:
    """Every shell history file found, the accounts, and the probe's own login."""

    files: tuple[HistoryFile, ...]
    accounts: tuple[Account, ...] = ()
    login_uid: int | None = None
    """The uid the probe ran for (``SUDO_UID``, else its own): the harness's login user."""
    btime: int | None = None
    """Boot time (``btime`` of /proc/stat); None offline."""
    legacy: bool = False
    """The text is the older ``SIZE OWNER PATH``-only form (no ownership by uid to go by)."""

    def home_of(self, uid: int) -> str | None:
        """The home directory of the first account with ``uid``."""
        return next((a.home for a in self.accounts if a.uid == uid), None)


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None


def parse(text: str) -> BashHistory:
    """``SIZE OWNER PATH`` lines, then the optional ``### ids`` (``UID MTIME PATH``),
    ``### passwd`` (``name:uid:home:shell``) and ``### login`` (``uid=``, ``btime=``) sections."""
    head = text.split("\n### ", 1)[0] if not text.startswith("### ") else ""
    parts = sections(text)
    ids: dict[str, tuple[int | None, int | None]] = {}
    for line in (parts.get("ids") or "").splitlines():
        words = line.split(None, 2)
        if len(words) == 3:
            ids[words[2]] = (_int(words[0]), _int(words[1]))
    files: dict[str, HistoryFile] = {}
    for line in head.splitlines():
        words = line.split(None, 2)
        if len(words) == 3 and words[0].isdigit():
            uid, mtime = ids.get(words[2], (None, None))
            files.setdefault(words[2], HistoryFile(int(words[0]), words[1], words[2], uid, mtime))
    accounts = []
    for line in (parts.get("passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) == 4 and fields[0]:
            accounts.append(Account(fields[0], _int(fields[1]), fields[2], fields[3]))
    login = key_values(parts.get("login") or "")
    return BashHistory(
        files=tuple(files.values()),
        accounts=tuple(accounts),
        login_uid=_int(login.get("uid", "")),
        btime=_int(login.get("btime", "")),
        legacy="ids" not in parts,
    )


_NAMES = (".*sh_history", ".history")
# pseudo file systems and the system trees no home lives in (the probe's `case` list)
_NOT_SWEPT = re.compile(r"/(proc|sys|dev|run|usr|boot|bin|sbin|lib|lib[0-9x].*|snap)")


def read_offline(image: OfflineImage) -> str:
    """What ``bash_history.sh`` prints on the image's files: the histories in /root, under
    /home, in every passwd home and up to three levels below /, their owners, and the
    accounts; no login and no boot."""
    homes = ["/root", *(d for d in image.glob("/home/*") if image.is_dir(d))]
    accounts: list[str] = []
    if image.is_file("/etc/passwd"):
        for line in image.lines("/etc/passwd"):
            fields = (line.split(":") + [""] * 7)[:7]
            if fields[5] not in ("", "/") and image.is_dir(fields[5]):
                homes.append(fields[5])
            if fields[0]:
                accounts.append(f"{fields[0]}:{fields[2]}:{fields[5]}:{':'.join(fields[6:])}")
    patterns = [f"{home}/{name}" for home in dict.fromkeys(homes) for name in _NAMES]
    # the probe's sweep for orphaned homes: up to three levels below /
    for top in image.glob("/*"):
        if _NOT_SWEPT.fullmatch(top) or not image.is_dir(top) or image.is_link(top):
            continue
        patterns += [f"{top}{depth}/{name}" for depth in ("", "/*", "/*/*") for name in _NAMES]
    found: list[tuple[str, int, int, int | None, str]] = []
    seen: set[str] = set()
    for path in (path for pattern in patterns for path in image.glob(pattern)):
        stat = image.stat(path, follow=False) if image.exists(path) else None
        if stat is not None and path not in seen:
            seen.add(path)
            found.append((image.owner(stat), stat.size, stat.uid, stat.mtime, path))
    out = [f"{size} {owner} {path}" for owner, size, _, _, path in found]
    out.append("### ids")
    out += [f"{uid} {mtime if mtime is not None else 0} {path}" for _, _, uid, mtime, path in found]
    out.append("### passwd")
    out += accounts
    return "\n".join(out) + "\n"


FACT = fact(
    "bash_history",
    parse,
    needs_root=True,
    description="shell histories in every home directory, their owners, the accounts' shells",
    offline=read_offline,
    shipped=True,
)
