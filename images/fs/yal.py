"""xfs through libyal's ``libfsxfs`` (``pyfsxfs``), and the file object libyal reads through.

``pyfsxfs`` ships no type information; the attributes used are declared as protocols here. Its
by-name lookup is not used (it fails on valid names in the versions tested): directories are
listed and looked up in the caller's cache. Names that are not valid UTF-8 cannot be read through
its binding; they are left out of listings and counted in :attr:`XfsBackend.skipped_names`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Protocol, cast

from images.fs.errors import FilesystemError, ImageLimitError, reason
from images.fs.model import RawStat, Source, type_from_mode


class SourceFile:
    """A read-only file object over a :class:`Source` (what libyal's ``open_file_object`` takes)."""

    def __init__(self, source: Source) -> None:
        self._source, self._pos = source, 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current position (all the rest when negative)."""
        if size < 0:
            size = self._source.size - self._pos
        data = self._source.read(self._pos, size)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the position (``whence`` as :func:`os.lseek`)."""
        base = {0: 0, 1: self._pos, 2: self._source.size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        """The current position."""
        return self._pos

    def get_size(self) -> int:
        """Bytes in the source."""
        return self._source.size


class _Entry(Protocol):
    inode_number: int
    file_mode: int
    owner_identifier: int
    group_identifier: int
    size: int
    number_of_links: int
    name: str | None
    symbolic_link_target: str | None
    sub_file_entries: Iterable[_Entry]

    def get_modification_time_as_integer(self) -> int: ...

    def read_buffer_at_offset(self, size: int, offset: int) -> bytes: ...


class _Volume(Protocol):
    def open_file_object(self, file_object: SourceFile) -> None: ...

    def get_root_directory(self) -> _Entry: ...

    def get_file_entry_by_inode(self, inode: int) -> _Entry | None: ...


class _XfsModule(Protocol):
    def volume(self) -> _Volume: ...


_CACHE = 4096


class XfsBackend:
    """An xfs file system read by libfsxfs; see :class:`~images.fs.model.Backend`."""

    kind = "xfs"

    def __init__(self, source: Source, where: str) -> None:
        self._where = where
        self.skipped_names = 0
        self._file = SourceFile(source)  # libfsxfs keeps no reference: we must
        module = cast(_XfsModule, importlib.import_module("pyfsxfs"))
        self._volume = module.volume()
        try:
            self._volume.open_file_object(self._file)
            self._root = self._volume.get_root_directory().inode_number
        except (OSError, RuntimeError, ValueError) as exc:
            raise FilesystemError(
                f"{where}: xfs file system cannot be opened: {reason(exc)}"
            ) from None
        self._entries: dict[int, _Entry] = {}

    def root(self) -> int:
        """The root directory's node."""
        return self._root

    def _entry(self, node: int) -> _Entry:
        entry = self._entries.get(node)
        if entry is None:
            try:
                entry = self._volume.get_file_entry_by_inode(node)
            except (OSError, RuntimeError, ValueError) as exc:
                raise FilesystemError(
                    f"{self._where}: inode {node} unreadable: {reason(exc)}"
                ) from None
            if entry is None:
                raise FilesystemError(f"{self._where}: inode {node} does not exist")
            if len(self._entries) >= _CACHE:
                self._entries.clear()
            self._entries[node] = entry
        return entry

    def entries(self, node: int, limit: int) -> dict[bytes, int]:
        """A directory's entries, name to node."""
        out: dict[bytes, int] = {}
        try:
            for sub in self._entry(node).sub_file_entries:
                try:
                    name = sub.name
                except (OSError, UnicodeError):
                    self.skipped_names += 1
                    continue
                if not name or name in (".", ".."):
                    continue
                if len(out) >= limit:
                    raise ImageLimitError(
                        f"{self._where}: directory inode {node} has more than {limit} entries"
                    )
                out[name.encode("utf-8", "surrogateescape")] = sub.inode_number
                if len(self._entries) < _CACHE:
                    self._entries[sub.inode_number] = sub
        except (OSError, RuntimeError, ValueError) as exc:
            raise FilesystemError(
                f"{self._where}: directory inode {node} unreadable: {reason(exc)}"
            ) from None
        return out

    def stat(self, node: int) -> RawStat:
        """A node's metadata."""
        entry = self._entry(node)
        try:
            mode = int(entry.file_mode)
            mtime_ns = int(entry.get_modification_time_as_integer())
            return RawStat(
                type=type_from_mode(mode),
                mode=mode & 0o7777,
                uid=int(entry.owner_identifier),
                gid=int(entry.group_identifier),
                size=max(0, int(entry.size)),
                nlink=int(entry.number_of_links),
                mtime=mtime_ns // 1_000_000_000,
            )
        except (OSError, RuntimeError, ValueError) as exc:
            raise FilesystemError(
                f"{self._where}: inode {node} unreadable: {reason(exc)}"
            ) from None

    def read(self, node: int, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` of a regular file."""
        entry = self._entry(node)
        try:
            length = min(length, int(entry.size) - offset)
            if length <= 0:
                return b""
            return bytes(entry.read_buffer_at_offset(length, offset))
        except (OSError, RuntimeError, ValueError) as exc:
            raise FilesystemError(
                f"{self._where}: inode {node} unreadable: {reason(exc)}"
            ) from None

    def readlink(self, node: int, limit: int) -> bytes:
        """A symbolic link's target."""
        entry = self._entry(node)
        try:
            size = int(entry.size)
            if size > limit:
                raise ImageLimitError(f"{self._where}: symlink inode {node} is {size} bytes long")
            target = entry.symbolic_link_target
        except (OSError, RuntimeError, ValueError, UnicodeError) as exc:
            raise FilesystemError(
                f"{self._where}: symlink inode {node} unreadable: {reason(exc)}"
            ) from None
        return (target or "").encode("utf-8", "surrogateescape")
