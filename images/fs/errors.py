"""Errors raised while reading files out of an image (all are :class:`~images.errors.ImageError`).

Two families: the image's *volumes* cannot be read (:class:`FilesystemError` and subclasses, which
are :class:`~images.errors.ImageFormatError`: the input is unusable for content checks), and a
*path* inside a readable image is missing, loops or is too big (:class:`ImagePathError`): the
image is fine, the caller asked for something that is not there.
"""

from __future__ import annotations

from images.errors import ImageError, ImageFormatError, ImageInputError


class UnreadableImageError(ImageInputError):
    """The image file is valid but its disk cannot be read offline (compressed qcow2 clusters,
    a backing file or parent disk, an unreplayed VHDX log)."""


class FilesystemError(ImageFormatError):
    """A volume in the image could not be read: corrupt structures, an unsupported kind."""


class UnsupportedFilesystemError(FilesystemError):
    """The volume holds a file system this reader does not parse (btrfs, ntfs, ...)."""


class EncryptedVolumeError(FilesystemError):
    """The volume is encrypted (LUKS): its files cannot be read without the key."""


class NoRootFilesystemError(FilesystemError):
    """No volume of the image holds a Linux root file system."""


class ImagePathError(ImageError):
    """A path inside the image cannot be given (missing, wrong type, loop, too big)."""


class ImageFileNotFoundError(ImagePathError):
    """No such file or directory in the image."""


class ImageNotADirectoryError(ImagePathError):
    """A path component that must be a directory is not one."""


class ImageIsADirectoryError(ImagePathError):
    """A file was asked for and the path names a directory."""


class SymlinkLoopError(ImagePathError):
    """Too many symbolic links were followed (a loop, or a chain longer than the limit)."""


class ImageLimitError(ImagePathError):
    """A hard limit (file size, directory entries, path depth, results) was reached."""


def reason(exc: BaseException) -> str:
    """A library's error message cut to one short line (libyal chains every frame's message)."""
    text = " ".join(str(exc).split())
    first = text.split(". ", 1)[0]
    return first if len(first) <= 160 else first[:157] + "..."
