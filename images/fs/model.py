"""Value types of the image file reader and the protocol each file-system backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class FileType(StrEnum):
    """Kind of a directory entry, as ``stat`` would tell it."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"
    SOCKET = "socket"
    OTHER = "other"


_MODE_TYPES = {
    0o100000: FileType.FILE,
    0o040000: FileType.DIR,
    0o120000: FileType.SYMLINK,
    0o020000: FileType.CHAR,
    0o060000: FileType.BLOCK,
    0o010000: FileType.FIFO,
    0o140000: FileType.SOCKET,
}


def type_from_mode(mode: int) -> FileType:
    """The type bits of a POSIX ``st_mode``."""
    return _MODE_TYPES.get(mode & 0o170000, FileType.OTHER)


@dataclass(frozen=True)
class FileStat:
    """What ``stat`` says about a file in the image."""

    type: FileType
    mode: int
    """Permission bits with setuid/setgid/sticky (``0o7777`` at most), no type bits."""
    uid: int
    gid: int
    size: int
    nlink: int
    mtime: int | None
    """Seconds since the epoch; None where the file system does not say."""
    volume: str
    """Id of the volume holding the file (see :attr:`VolumeInfo.id`)."""
    inode: int

    @property
    def is_file(self) -> bool:
        """A regular file."""
        return self.type is FileType.FILE

    @property
    def is_dir(self) -> bool:
        """A directory."""
        return self.type is FileType.DIR


@dataclass(frozen=True)
class DirEntry:
    """One entry of :meth:`~images.fs.files.ImageFiles.list_dir`."""

    name: str
    """Non-UTF-8 bytes are kept as surrogates (``os.fsdecode`` style)."""
    path: str
    type: FileType


@dataclass(frozen=True)
class VolumeInfo:
    """A partition or LVM logical volume of the image and what was found in it."""

    id: str
    """``p2`` (partition 2), ``disk`` (no partition table) or ``lvm:VG/LV``."""
    filesystem: str
    """Signature found (``ext4``, ``xfs``, ``vfat``, ``lvm2``, ``luks``, ``swap``, ``none``...)."""
    size: int
    status: str
    """``readable``, ``encrypted``, ``unsupported``, ``container`` (an LVM PV), ``swap``,
    ``empty`` or ``error``."""
    uuid: str = ""
    """The file system's UUID as ``/etc/fstab`` spells it (lower case; ``ABCD-1234`` for vfat)."""
    label: str = ""
    partuuid: str = ""
    partlabel: str = ""
    note: str = ""
    """Why the volume is not readable, when it is not."""


@dataclass(frozen=True)
class Mount:
    """A volume mounted at a path of the image's tree (from its ``/etc/fstab``)."""

    path: str
    volume: str
    fstype: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class RawStat:
    """A backend's answer for one node (inode)."""

    type: FileType
    mode: int
    uid: int
    gid: int
    size: int
    nlink: int
    mtime: int | None


class Source(Protocol):
    """Random-access bytes of one volume."""

    @property
    def size(self) -> int:
        """Bytes in the volume."""
        ...

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (short or empty past the end)."""
        ...


class Backend(Protocol):
    """One opened file system, addressed by node (inode) numbers.

    Every method raises :class:`~images.fs.errors.FilesystemError` for corrupt structures and
    nothing but the package's errors.
    """

    kind: str

    def root(self) -> int:
        """The root directory's node."""
        ...

    def entries(self, node: int, limit: int) -> dict[bytes, int]:
        """A directory's entries (``.`` and ``..`` left out), name to node; more than ``limit``
        raises :class:`~images.fs.errors.ImageLimitError`."""
        ...

    def stat(self, node: int) -> RawStat:
        """A node's metadata."""
        ...

    def read(self, node: int, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes of a regular file from ``offset``."""
        ...

    def readlink(self, node: int, limit: int) -> bytes:
        """A symbolic link's target (at most ``limit`` bytes, else ImageLimitError)."""
        ...
