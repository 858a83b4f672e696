"""An image's file tree as the offline fact readers see it: shell-like tests and reads.

The probes are shell texts run on the machine; a fact's offline reader prints what its probe
would print, reading the image's files instead. :class:`OfflineImage` gives the readers the
shell's view of a path (``[ -f ]``, ``[ -e ]``, ``[ -L ]``, ``[ -x ]``, globs, ``while read``
over a file, ``stat -c %U``) on top of :class:`images.fs.ImageFiles`, and caches what several
readers need (os-release, the account names, the boot entry, the package database).

Everything a reader does is bounded: file reads by :class:`images.fs.Limits` and
:data:`TEXT_LIMIT`, loops by :meth:`OfflineImage.tick` (a deadline for the whole reading).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from checks.errors import CheckError
from checks.family import detect_family, parse_os_release
from images.fs import (
    FileStat,
    FileType,
    ImageFileNotFoundError,
    ImageFiles,
    ImageNotADirectoryError,
    ImagePathError,
    SymlinkLoopError,
)

if TYPE_CHECKING:
    from checks.offline.boot import BootEntry
    from checks.offline.packages import PackageDb

T = TypeVar("T")

PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
"""The ``PATH`` the probe batch exports (:mod:`harness.probe_runner`), searched in order."""

TEXT_LIMIT = 4 * 1024 * 1024
"""Largest configuration file read as text: a bigger one is hostile (a probe's ``while read``
over it would run into its time-out) and gives an error instead of a reading."""

DEADLINE_SECONDS = 60.0
"""Longest one image's offline reading may take before the remaining facts give up."""

_MISSING = (ImageFileNotFoundError, ImageNotADirectoryError, SymlinkLoopError)
"""What a shell test answers "false" to: no such path, a component not a directory, a loop."""


class OfflineError(CheckError):
    """The image's files cannot give a fact (a one-line reason: what is missing or malformed)."""


class OfflineImage:
    """The file tree of one image, for the fact readers (see the module docstring).

    ``now`` stands for the boot time of a first boot (epoch seconds; default: the clock when the
    reading started): every file the image ships predates it.
    """

    def __init__(
        self, files: ImageFiles, *, now: int | None = None, deadline: float = DEADLINE_SECONDS
    ) -> None:
        self.files = files
        self.now = int(time.time()) if now is None else now
        self._deadline = time.monotonic() + deadline
        self._memo: dict[str, object] = {}

    # -- bounds ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Raise :class:`OfflineError` once the reading's deadline has passed (loops call it)."""
        if time.monotonic() > self._deadline:
            raise OfflineError("reading the image's files took too long (deadline passed)")

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per image (readers share boot entries, package lists ...)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[return-value]

    # -- shell tests -----------------------------------------------------------------------------

    def stat(self, path: str, *, follow: bool = True) -> FileStat | None:
        """``stat`` of ``path`` (``follow=False``: of a final symlink), None when it does not
        resolve (missing, dangling, a loop)."""
        try:
            return self.files.stat(path, follow_symlinks=follow)
        except _MISSING:
            return None

    def is_file(self, path: str) -> bool:
        """``[ -f PATH ]``: a regular file, symlinks followed."""
        found = self.stat(path)
        return found is not None and found.type is FileType.FILE

    def is_dir(self, path: str) -> bool:
        """``[ -d PATH ]``."""
        found = self.stat(path)
        return found is not None and found.type is FileType.DIR

    def exists(self, path: str) -> bool:
        """``[ -e PATH ]`` (a dangling symlink does not exist)."""
        return self.stat(path) is not None

    def is_link(self, path: str) -> bool:
        """``[ -L PATH ]``."""
        found = self.stat(path, follow=False)
        return found is not None and found.type is FileType.SYMLINK

    def is_executable(self, path: str) -> bool:
        """``[ -x PATH ]`` for root: a regular file with an execute bit."""
        found = self.stat(path)
        return found is not None and found.type is FileType.FILE and bool(found.mode & 0o111)

    def command(self, name: str) -> str | None:
        """``command -v NAME`` on the probe's ``PATH``: the first executable, else None."""
        for directory in PATH:
            candidate = f"{directory}/{name}"
            if self.is_executable(candidate):
                return candidate
        return None

    def glob(self, pattern: str) -> list[str]:
        """The paths a shell glob expands to, sorted (none: empty, where the shell would keep the
        pattern and the probe's ``[ -e ]``-style test drop it)."""
        self.tick()
        if not any(ch in pattern for ch in "*?["):
            return [pattern] if self.exists(pattern) or self.is_link(pattern) else []
        return self.files.glob(pattern)

    def real_dir(self, path: str) -> str | None:
        """``cd -P PATH && pwd -P``: the directory's canonical path, None if it is not one."""
        return self.files.resolve(path) if self.is_dir(path) else None

    def read_link(self, path: str) -> str:
        """``readlink PATH``."""
        return self.files.read_link(path)

    # -- reading ---------------------------------------------------------------------------------

    def read_bytes(self, path: str, limit: int = TEXT_LIMIT) -> bytes:
        """The bytes of a regular file; :class:`~images.fs.ImageLimitError` above ``limit``."""
        self.tick()
        return self.files.read_file(path, limit)

    def read_text(self, path: str, limit: int = TEXT_LIMIT) -> str:
        """A text file, decoded as UTF-8 with undecodable bytes replaced (as the probe outputs
        are)."""
        return self.read_bytes(path, limit).decode("utf-8", "replace")

    def lines(self, path: str, limit: int = TEXT_LIMIT) -> list[str]:
        """What ``while IFS= read -r l || [ -n "$l" ]; do ...; done <PATH`` iterates over: every
        line without its newline, a last line without one included when it is not empty."""
        text = self.read_text(path, limit)
        out = text.split("\n")
        if out and out[-1] == "":
            out.pop()
        return out

    def walk_files(self, top: str, limit: int) -> Iterator[str]:
        """``find TOP -type f``: regular files below ``top`` (symlinks not followed), sorted per
        directory, at most ``limit`` of them."""
        count = 0
        stack = [top]
        while stack:
            self.tick()
            directory = stack.pop()
            try:
                entries = self.files.list_dir(directory)
            except (*_MISSING, ImagePathError):
                continue
            subdirs = []
            for entry in entries:
                if entry.type is FileType.FILE:
                    yield entry.path
                    count += 1
                    if count >= limit:
                        return
                elif entry.type is FileType.DIR:
                    subdirs.append(entry.path)
            stack.extend(reversed(subdirs))

    # -- shared knowledge ------------------------------------------------------------------------

    @cached_property
    def os_release(self) -> dict[str, str]:
        """``/etc/os-release`` (else ``/usr/lib/os-release``) as key/value pairs ({} if none)."""
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            if self.is_file(path):
                return parse_os_release(self.read_text(path))
        return {}

    @cached_property
    def family(self) -> str:
        """The distribution family (picks the family-specific probe text, as on the guest)."""
        return detect_family(self.os_release)

    @cached_property
    def user_names(self) -> dict[int, str]:
        """uid → account name from the image's ``/etc/passwd`` (the first line per uid)."""
        names: dict[int, str] = {}
        if not self.is_file("/etc/passwd"):
            return names
        for line in self.lines("/etc/passwd"):
            fields = line.split(":")
            if len(fields) >= 3 and fields[2].isdigit():
                names.setdefault(int(fields[2]), fields[0])
        return names

    def owner(self, found: FileStat) -> str:
        """``stat -c %U``: the owner's name, ``UNKNOWN`` when the image's passwd has none."""
        return self.user_names.get(found.uid, "UNKNOWN")

    @property
    def boot(self) -> BootEntry:
        """The entry the image's boot loader starts by default (:mod:`checks.offline.boot`)."""
        from checks.offline.boot import default_entry

        return self.memo("boot", lambda: default_entry(self))

    @property
    def packages(self) -> PackageDb:
        """The image's package database (dpkg or rpm; :mod:`checks.offline.packages`)."""
        from checks.offline.packages import read_package_db

        return self.memo("packages", lambda: read_package_db(self))


def shell_path(path: str) -> str:
    """``path`` as the shell would print it: non-UTF-8 bytes come back as they are on disk."""
    return os.fsencode(path).decode("utf-8", "replace")


SPACE = " \t\n\r\v\f"
"""``[:space:]`` in the C locale."""


def ltrim(text: str) -> str:
    """``${t#"${t%%[![:space:]]*}"}``: ``text`` without leading blanks."""
    return text.lstrip(SPACE)
