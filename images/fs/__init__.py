"""Reading files straight out of an image file, without mounting, root, loop devices or a VM.

Typical use::

    with open_filesystems("disk.vhd") as files:
        text = files.read_text("/etc/ssh/sshd_config", 1 << 20)

Back ends: ext2/3/4 and FAT through The Sleuth Kit (``pytsk3``), xfs through ``libfsxfs``, LVM2
through ``libvslvm`` (see docs/offline-content.md for why).
"""

from images.fs.disk import VirtualDisk
from images.fs.errors import (
    EncryptedVolumeError,
    FilesystemError,
    ImageFileNotFoundError,
    ImageIsADirectoryError,
    ImageLimitError,
    ImageNotADirectoryError,
    ImagePathError,
    NoRootFilesystemError,
    SymlinkLoopError,
    UnreadableImageError,
    UnsupportedFilesystemError,
)
from images.fs.files import ImageFiles, open_filesystems
from images.fs.limits import Limits
from images.fs.model import DirEntry, FileStat, FileType, Mount, VolumeInfo

__all__ = [
    "DirEntry",
    "EncryptedVolumeError",
    "FileStat",
    "FileType",
    "FilesystemError",
    "ImageFileNotFoundError",
    "ImageFiles",
    "ImageIsADirectoryError",
    "ImageLimitError",
    "ImageNotADirectoryError",
    "ImagePathError",
    "Limits",
    "Mount",
    "NoRootFilesystemError",
    "SymlinkLoopError",
    "UnreadableImageError",
    "UnsupportedFilesystemError",
    "VirtualDisk",
    "VolumeInfo",
    "open_filesystems",
]
