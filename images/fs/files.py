"""A read-only view of an image's file tree: root, ``/boot``, the ESP and LVM volumes, unmounted.

:func:`open_filesystems` finds the volumes (partitions, LVM2 logical volumes), picks the Linux
root, mounts what the image's own ``/etc/fstab`` mounts, and resolves paths the way the kernel
would inside a chroot of that tree: symbolic links are followed inside the image (an absolute
target starts again at the image's root, ``..`` stops there), with Linux's 40-link limit, and
every read, listing and walk is bounded by :class:`~images.fs.limits.Limits`.
"""

from __future__ import annotations

import fnmatch
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from images.fs.cache import CachedSource
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
    UnsupportedFilesystemError,
)
from images.fs.fstab import FstabEntry, match_spec, parse_fstab
from images.fs.limits import Limits
from images.fs.model import Backend, DirEntry, FileStat, FileType, Mount, RawStat, VolumeInfo
from images.fs.tsk import TskBackend
from images.fs.volumes import FoundVolume, by_id, find_volumes_in
from images.fs.yal import XfsBackend
from images.partitions import PartitionTable, read_partition_table

_ROOT_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs"})
_ROOT_MARKERS = ("etc/fstab", "etc/os-release", "usr/lib/os-release", "etc/passwd")
_CACHE_DIRS = 512
_FSTAB_BYTES = 1024 * 1024


class _Loc(NamedTuple):
    """A node of one volume (a tuple: hashed in C, it keys every cache)."""

    volume: str
    node: int


@dataclass(frozen=True)
class _FatOptions:
    """What a vfat mount's options make of owners and modes (FAT stores neither)."""

    uid: int = 0
    gid: int = 0
    fmask: int = 0o022
    dmask: int = 0o022


def _fat_options(options: Sequence[str]) -> _FatOptions:
    values: dict[str, int] = {}
    for option in options:
        key, _, value = option.partition("=")
        base = 8 if key in ("umask", "fmask", "dmask") else 10
        try:
            values[key] = int(value, base)
        except ValueError:
            continue
    umask = values.get("umask", 0o022)
    return _FatOptions(
        uid=values.get("uid", 0),
        gid=values.get("gid", 0),
        fmask=values.get("fmask", umask),
        dmask=values.get("dmask", umask),
    )


def _encode(path: str) -> list[bytes]:
    return os.fsencode(path).split(b"/")


def _decode(parts: Sequence[bytes]) -> str:
    return "/" + "/".join(os.fsdecode(p) for p in parts)


class ImageFiles:
    """The file tree of an image, read-only. Build it with :func:`open_filesystems`.

    Paths are absolute paths of the image's tree (a relative path is taken from ``/``). Errors:
    :class:`~images.fs.errors.ImagePathError` subclasses for a path that is missing, of the wrong
    type, loops or exceeds a limit; :class:`~images.fs.errors.FilesystemError` when a volume's
    structures are corrupt. Every message is one line naming the image and the path.
    """

    def __init__(
        self,
        disk: VirtualDisk,
        volumes: Sequence[FoundVolume],
        root: str,
        mounts: Sequence[Mount],
        notes: Sequence[str],
        limits: Limits,
        backends: dict[str, Backend] | None = None,
        owns_disk: bool = True,
        partition_table: PartitionTable | None = None,
    ) -> None:
        self.image = disk.name
        self.partition_table = partition_table
        """The disk's partition table (``kind`` ``none`` for a whole-disk file system)."""
        self.limits = limits
        self._disk, self._owns_disk = disk, owns_disk
        self._found = list(volumes)
        self._backends: dict[str, Backend] = backends if backends is not None else {}
        self.root_volume = root
        self.mounts = tuple(mounts)
        self._notes = list(notes)
        self._mount_at: dict[tuple[bytes, ...], Mount] = {
            tuple(p for p in _encode(m.path) if p): m for m in self.mounts
        }
        self._fat: dict[str, _FatOptions] = {
            m.volume: _fat_options(m.options) for m in self.mounts if m.fstype == "vfat"
        }
        self._dirs: OrderedDict[_Loc, dict[bytes, int]] = OrderedDict()
        self._folded: dict[_Loc, dict[bytes, bytes]] = {}
        self._stats: dict[_Loc, RawStat] = {}

    # -- volumes ---------------------------------------------------------------------------------

    @property
    def volumes(self) -> tuple[VolumeInfo, ...]:
        """Every partition and logical volume found, readable or not."""
        return tuple(v.info for v in self._found)

    @property
    def logical_volumes(self) -> tuple[str, ...]:
        """LVM logical volumes as ``VG/LV``."""
        return tuple(v.info.id[4:] for v in self._found if v.info.id.startswith("lvm:"))

    @property
    def notes(self) -> tuple[str, ...]:
        """What was skipped or could not be resolved (unreadable names, unmatched fstab lines)."""
        skipped = sum(b.skipped_names for b in self._backends.values() if isinstance(b, XfsBackend))
        extra = (
            [f"{skipped} directory entries with non-UTF-8 names skipped (xfs)"] if skipped else []
        )
        return (*self._notes, *extra)

    def backend(self, volume: str) -> Backend:
        """The opened file system of volume ``volume`` (opened on first use)."""
        backend = self._backends.get(volume)
        if backend is None:
            found = by_id(self._found, volume)
            if found is None:
                raise ImageFileNotFoundError(f"{self.image}: no volume {volume!r}")
            backend = open_backend(found)
            self._backends[volume] = backend
        return backend

    def view(self, volume: str) -> ImageFiles:
        """The same image with ``volume`` (``p2``, ``lvm:vg/lv``, ``vg/lv``) as ``/``, no mounts."""
        vid = volume if by_id(self._found, volume) is not None else f"lvm:{volume}"
        self.backend(vid)
        return ImageFiles(
            self._disk,
            self._found,
            vid,
            (),
            self._notes,
            self.limits,
            self._backends,
            False,
            self.partition_table,
        )

    def read_disk(self, offset: int, length: int) -> bytes:
        """Raw bytes of the virtual disk (the boot sector, say), at most 1 MiB per call."""
        return self._disk.read(offset, min(length, 1024 * 1024))

    # -- path resolution -------------------------------------------------------------------------

    def _where(self, parts: Sequence[bytes]) -> str:
        return f"{self.image}:{_decode(parts)}"

    def _raw_stat(self, loc: _Loc) -> RawStat:
        stat = self._stats.get(loc)
        if stat is None:
            stat = self.backend(loc.volume).stat(loc.node)
            fat = self._fat.get(loc.volume)
            if self.backend(loc.volume).kind == "vfat":
                fat = fat or _FatOptions()
                mask = fat.dmask if stat.type is FileType.DIR else fat.fmask
                stat = RawStat(
                    stat.type, stat.mode & 0o777 & ~mask, fat.uid, fat.gid, stat.size, 1, stat.mtime
                )
            if len(self._stats) > 50_000:
                self._stats.clear()
            self._stats[loc] = stat
        return stat

    def _entries(self, loc: _Loc) -> dict[bytes, int]:
        entries = self._dirs.get(loc)
        if entries is None:
            entries = self.backend(loc.volume).entries(loc.node, self.limits.max_dir_entries)
            self._dirs[loc] = entries
            if len(self._dirs) > _CACHE_DIRS:
                old, _ = self._dirs.popitem(last=False)
                self._folded.pop(old, None)
        else:
            self._dirs.move_to_end(loc)
        return entries

    def _lookup(self, loc: _Loc, name: bytes) -> int | None:
        entries = self._entries(loc)
        node = entries.get(name)
        if node is None and self.backend(loc.volume).kind == "vfat":  # FAT ignores case
            folded = self._folded.get(loc)
            if folded is None:
                folded = {k.lower(): k for k in entries}
                self._folded[loc] = folded
            real = folded.get(name.lower())
            node = entries[real] if real is not None else None
        return node

    def _root(self) -> _Loc:
        return _Loc(self.root_volume, self.backend(self.root_volume).root())

    def _mount_root(self, mount: Mount) -> _Loc:
        return _Loc(mount.volume, self.backend(mount.volume).root())

    def _resolve(self, path: str, follow: bool) -> tuple[list[bytes], _Loc]:
        """(canonical components, node) of ``path``; ``follow``: follow a final symlink."""
        raw = os.fsencode(path)
        if len(raw) > self.limits.max_path_bytes:
            raise ImageLimitError(
                f"{self.image}: path longer than {self.limits.max_path_bytes} bytes"
            )
        pending = [p for p in raw.split(b"/") if p not in (b"", b".")]
        pending.reverse()  # a stack: next component last
        trailing_slash = raw.endswith(b"/")
        stack: list[tuple[bytes, _Loc]] = []
        root = self._root()
        links = steps = 0
        while pending:
            comp = pending.pop()
            steps += 1
            if steps > self.limits.max_path_components:
                raise ImageLimitError(f"{self._where([])}{path}: path has too many components")
            if comp == b"..":
                if stack:
                    stack.pop()
                continue
            parent = stack[-1][1] if stack else root
            parts = [c for c, _ in stack]
            if self._raw_stat(parent).type is not FileType.DIR:
                raise ImageNotADirectoryError(f"{self._where(parts)}: not a directory")
            canon = (*parts, comp)
            mount = self._mount_at.get(canon)
            if mount is not None:
                child = self._mount_root(mount)
            else:
                node = self._lookup(parent, comp)
                if node is None:
                    raise ImageFileNotFoundError(f"{self._where(canon)}: no such file in the image")
                child = _Loc(parent.volume, node)
            last = not pending
            if (not last or follow or trailing_slash) and (
                self._raw_stat(child).type is FileType.SYMLINK
            ):
                links += 1
                if links > self.limits.max_symlinks:
                    raise SymlinkLoopError(
                        f"{self._where(canon)}: too many levels of symbolic links (a loop?)"
                    )
                target = self.backend(child.volume).readlink(child.node, self.limits.max_path_bytes)
                if not target:
                    raise ImageFileNotFoundError(f"{self._where(canon)}: empty symbolic link")
                if target.startswith(b"/"):
                    stack.clear()
                more = [p for p in target.split(b"/") if p not in (b"", b".")]
                if len(pending) + len(more) > self.limits.max_path_components:
                    raise ImageLimitError(f"{self._where(canon)}: symlink expands too far")
                pending.extend(reversed(more))
                continue
            stack.append((comp, child))
        parts = [c for c, _ in stack]
        loc = stack[-1][1] if stack else root
        if trailing_slash and self._raw_stat(loc).type is not FileType.DIR:
            raise ImageNotADirectoryError(f"{self._where(parts)}: not a directory")
        return parts, loc

    def _stat_of(self, parts: Sequence[bytes], loc: _Loc) -> FileStat:
        raw = self._raw_stat(loc)
        return FileStat(
            type=raw.type,
            mode=raw.mode,
            uid=raw.uid,
            gid=raw.gid,
            size=raw.size,
            nlink=raw.nlink,
            mtime=raw.mtime,
            volume=loc.volume,
            inode=loc.node,
        )

    # -- public reads ----------------------------------------------------------------------------

    def resolve(self, path: str) -> str:
        """The canonical path of ``path`` in the image (symlinks followed)."""
        return _decode(self._resolve(path, True)[0])

    def stat(self, path: str, *, follow_symlinks: bool = True) -> FileStat:
        """Type, mode, owner, size of ``path`` (``follow_symlinks=False``: of a final link)."""
        parts, loc = self._resolve(path, follow_symlinks)
        return self._stat_of(parts, loc)

    def exists(self, path: str) -> bool:
        """Whether ``path`` resolves (a dangling or looping symlink does not)."""
        try:
            self._resolve(path, True)
        except (ImageFileNotFoundError, ImageNotADirectoryError, SymlinkLoopError):
            return False
        return True

    def is_file(self, path: str) -> bool:
        """Whether ``path`` resolves to a regular file."""
        return self.exists(path) and self.stat(path).is_file

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` resolves to a directory."""
        return self.exists(path) and self.stat(path).is_dir

    def read_file(
        self, path: str, max_bytes: int | None = None, *, truncate: bool = False
    ) -> bytes:
        """The contents of the regular file at ``path`` (symlinks followed).

        A file over ``max_bytes`` (default :attr:`Limits.default_read_bytes`, never more than
        :attr:`Limits.max_read_bytes`) raises :class:`ImageLimitError`, or with ``truncate=True``
        gives its first ``max_bytes`` bytes.
        """
        limit = self.limits.default_read_bytes if max_bytes is None else max_bytes
        limit = max(0, min(limit, self.limits.max_read_bytes))
        parts, loc = self._resolve(path, True)
        stat = self._raw_stat(loc)
        if stat.type is FileType.DIR:
            raise ImageIsADirectoryError(f"{self._where(parts)}: is a directory")
        if stat.type is not FileType.FILE:
            raise ImagePathError(f"{self._where(parts)}: not a regular file ({stat.type})")
        if stat.size > limit and not truncate:
            raise ImageLimitError(
                f"{self._where(parts)}: {stat.size} bytes, over the {limit}-byte read limit"
            )
        return self.backend(loc.volume).read(loc.node, 0, min(stat.size, limit))

    def read_at(self, path: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes (at most :attr:`Limits.max_read_bytes`) of the regular file at
        ``path`` from ``offset``: reads a big file piece by piece; short or empty at its end."""
        parts, loc = self._resolve(path, True)
        stat = self._raw_stat(loc)
        if stat.type is not FileType.FILE:
            raise ImagePathError(f"{self._where(parts)}: not a regular file ({stat.type})")
        length = min(length, self.limits.max_read_bytes, stat.size - offset)
        if offset < 0 or length <= 0:
            return b""
        return self.backend(loc.volume).read(loc.node, offset, length)

    def read_text(self, path: str, max_bytes: int | None = None, *, truncate: bool = False) -> str:
        """:meth:`read_file` decoded as UTF-8 (undecodable bytes replaced)."""
        return self.read_file(path, max_bytes, truncate=truncate).decode("utf-8", "replace")

    def read_link(self, path: str) -> str:
        """The target of the symbolic link at ``path``, as stored (not resolved)."""
        parts, loc = self._resolve(path, False)
        if self._raw_stat(loc).type is not FileType.SYMLINK:
            raise ImagePathError(f"{self._where(parts)}: not a symbolic link")
        target = self.backend(loc.volume).readlink(loc.node, self.limits.max_path_bytes)
        return os.fsdecode(target)

    def list_dir(self, path: str) -> list[DirEntry]:
        """The entries of the directory at ``path``, sorted by name (``.`` and ``..`` left out)."""
        parts, loc = self._resolve(path, True)
        if self._raw_stat(loc).type is not FileType.DIR:
            raise ImageNotADirectoryError(f"{self._where(parts)}: not a directory")
        out = []
        prefix = _decode(parts).rstrip("/") + "/"
        for name, node in sorted(self._entries(loc).items()):
            mount = self._mount_at.get((*parts, name)) if self._mount_at else None
            kind = FileType.DIR if mount else self._raw_stat(_Loc(loc.volume, node)).type
            text = os.fsdecode(name)
            out.append(DirEntry(text, prefix + text, kind))
        return out

    def glob(self, pattern: str) -> list[str]:
        """Paths matching a shell pattern (``*``, ``?``, ``[...]`` per component; ``**`` for any
        number of directories, not descending through symlinks), sorted.

        As in the shell, a wildcard does not match a leading ``.``. At most
        :attr:`Limits.max_results` paths; more raises :class:`ImageLimitError`.
        """
        comps = [c for c in pattern.split("/") if c not in ("", ".")]
        found: set[str] = set()
        self._glob("", comps, 0, found)
        return sorted(found)

    def _glob(self, base: str, comps: list[str], depth: int, found: set[str]) -> None:
        if not comps:
            found.add(base or "/")
            if len(found) > self.limits.max_results:
                raise ImageLimitError(
                    f"{self.image}: more than {self.limits.max_results} paths match"
                )
            return
        head, rest = comps[0], comps[1:]
        if head == "**":
            self._glob(base, rest, depth, found)
            if depth >= self.limits.max_depth:
                return
            for entry in self._glob_list(base):
                if entry.type is FileType.DIR and not entry.name.startswith("."):
                    self._glob(entry.path, comps, depth + 1, found)
            return
        if not any(ch in head for ch in "*?["):
            path = f"{base}/{head}"
            if self.exists(path) or (not rest and self._is_link(path)):
                self._glob(path, rest, depth, found)
            return
        for entry in self._glob_list(base):
            if entry.name.startswith(".") and not head.startswith("."):
                continue
            if fnmatch.fnmatchcase(entry.name, head):
                self._glob(entry.path, rest, depth, found)

    def _glob_list(self, base: str) -> list[DirEntry]:
        try:
            return self.list_dir(base or "/")
        except (ImageFileNotFoundError, ImageNotADirectoryError, SymlinkLoopError):
            return []

    def _is_link(self, path: str) -> bool:
        try:
            return self.stat(path, follow_symlinks=False).type is FileType.SYMLINK
        except (ImageFileNotFoundError, ImageNotADirectoryError, SymlinkLoopError):
            return False

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the image file (views share it: closing one closes them all)."""
        if self._owns_disk:
            self._backends.clear()
            self._disk.close()

    def __enter__(self) -> ImageFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_backend(found: FoundVolume) -> Backend:
    """Open the file system of a volume; unreadable kinds raise the matching error."""
    info = found.info
    if info.status == "encrypted":
        raise EncryptedVolumeError(f"{found.where} is LUKS-encrypted: its files cannot be read")
    if info.status == "error":
        raise FilesystemError(info.note)
    if info.filesystem == "xfs":
        return XfsBackend(CachedSource(found.source), found.where)
    if info.filesystem in ("ext2", "ext3", "ext4", "vfat"):
        return TskBackend(CachedSource(found.source), info.filesystem, found.where)
    raise UnsupportedFilesystemError(
        f"{found.where}: {info.filesystem} is not a file system vmcert reads offline"
    )


def _is_root(backend: Backend) -> bool:
    """A Linux root: an ``etc`` directory and one of the files every distribution has."""
    try:
        top = backend.entries(backend.root(), 100_000)
        etc = top.get(b"etc")
        if etc is None or backend.stat(etc).type is not FileType.DIR:
            return False
        names = backend.entries(etc, 100_000)
        if any(m.split("/")[1].encode() in names for m in _ROOT_MARKERS if m.startswith("etc/")):
            return True
        usr = top.get(b"usr")
        return usr is not None and b"lib" in backend.entries(usr, 100_000)
    except (FilesystemError, ImagePathError):
        return False


def _read_fstab(files: ImageFiles) -> tuple[list[FstabEntry], str]:
    try:
        text = files.read_text("/etc/fstab", _FSTAB_BYTES, truncate=True)
    except ImagePathError:
        return [], "no /etc/fstab in the root file system: only / is mounted"
    except FilesystemError as exc:
        return [], f"/etc/fstab unreadable: {exc}"
    return parse_fstab(text), ""


def _mounts(
    entries: Sequence[FstabEntry], found: Sequence[FoundVolume], root: str, notes: list[str]
) -> list[Mount]:
    infos = [v.info for v in found]
    mounts: list[Mount] = []
    for entry in entries:
        path = "/" + "/".join(p for p in entry.path.split("/") if p not in ("", "."))
        if not entry.path.startswith("/") or path == "/" or entry.fstype in ("swap", "none"):
            continue
        if ".." in path.split("/") or entry.fstype in ("proc", "sysfs", "tmpfs", "devpts", "nfs"):
            continue
        if "noauto" in entry.options and "x-systemd.automount" not in entry.options:
            notes.append(f"fstab: {entry.path} is noauto: not mounted")
            continue
        volume = match_spec(entry.spec, infos, root)
        if volume is None:
            notes.append(f"fstab: {entry.path} ({entry.spec}) matches no volume of the image")
            continue
        if volume.status != "readable":
            notes.append(f"fstab: {entry.path} is on {volume.id}: {volume.note or volume.status}")
            continue
        mounts.append(Mount(path, volume.id, volume.filesystem, entry.options))
    return mounts


def open_filesystems(
    path: Path | str, *, limits: Limits | None = None, root: str | None = None
) -> ImageFiles:
    """Open an image file (raw, fixed or dynamic VHD, VHDX, qcow2) and its file tree.

    The root is the Linux root volume (``root`` picks one by id: ``p2``, ``lvm:vg/lv``); the
    image's ``/etc/fstab`` then mounts ``/boot``, ``/boot/efi`` and any other volume it names
    that is in the image. Raises :class:`~images.errors.ImageInputError` /
    :class:`~images.errors.ImageFormatError` for an unusable file,
    :class:`~images.fs.errors.EncryptedVolumeError` when the root is encrypted and
    :class:`~images.fs.errors.NoRootFilesystemError` when no volume holds a Linux root.
    """
    limits = limits or Limits()
    disk = VirtualDisk(path)
    try:
        table = read_partition_table(disk.read, disk.size, disk.name)
        found, notes = find_volumes_in(disk, table)
        backends: dict[str, Backend] = {}
        candidates: list[str] = []
        for volume in found:
            info = volume.info
            wanted = info.id == root if root else info.filesystem in _ROOT_FILESYSTEMS
            if not wanted:
                continue
            try:
                backend = open_backend(volume)
            except FilesystemError as exc:
                notes.append(str(exc))
                continue
            backends[info.id] = backend
            if root or _is_root(backend):
                candidates.append(info.id)
        if not candidates:
            if root and by_id(found, root) is None:
                raise NoRootFilesystemError(f"{disk.name}: no volume {root!r} in the image")
            encrypted = [v for v in found if v.info.status == "encrypted"]
            if encrypted:
                raise EncryptedVolumeError(
                    f"{encrypted[0].where} is LUKS-encrypted and no unencrypted Linux root was "
                    "found: the image's files cannot be read offline"
                )
            seen = ", ".join(f"{v.info.id} {v.info.filesystem}" for v in found) or "none"
            raise NoRootFilesystemError(
                f"{disk.name}: no Linux root file system found (volumes: {seen})"
            )
        files = ImageFiles(disk, found, candidates[0], (), notes, limits, backends, True, table)
        entries, note = _read_fstab(files)
        if note:
            notes.append(note)
        if len(candidates) > 1:
            infos = [v.info for v in found]
            named = [e for e in entries if e.path == "/" and match_spec(e.spec, infos) is not None]
            chosen = match_spec(named[0].spec, infos) if named else None
            if chosen is not None and chosen.id in candidates:
                files.root_volume = chosen.id
                entries, _ = _read_fstab(files)
            notes.append(
                f"several Linux roots ({', '.join(candidates)}); using {files.root_volume}"
            )
        mounts = _mounts(entries, found, files.root_volume, notes)
        return ImageFiles(
            disk, found, files.root_volume, mounts, notes, limits, backends, True, table
        )
    except BaseException:
        disk.close()
        raise
