"""ext2/3/4 and FAT through The Sleuth Kit (``pytsk3``): raw byte names, deleted entries left out.

``pytsk3`` ships no type information; the few attributes used are declared as protocols here and
the module is bound once, so the rest of the package stays strictly typed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Protocol, cast

from images.fs.errors import FilesystemError, ImageLimitError, reason
from images.fs.model import FileType, RawStat, Source


class _Name(Protocol):
    name: bytes
    meta_addr: int
    flags: int
    type: int


class _Meta(Protocol):
    addr: int
    type: int
    mode: int
    uid: int
    gid: int
    size: int
    nlink: int
    mtime: int
    link: bytes


class _Info(Protocol):
    name: _Name | None
    meta: _Meta | None


class _File(Protocol):
    info: _Info

    def read_random(self, offset: int, length: int) -> bytes: ...


class _FsInfoInfo(Protocol):
    root_inum: int
    last_inum: int
    ftype: int


class _FsInfo(Protocol):
    info: _FsInfoInfo

    def open_meta(self, *, inode: int) -> _File: ...

    def open_dir(self, *, inode: int) -> Iterable[_File]: ...


class _Module(Protocol):
    Img_Info: type
    TSK_IMG_TYPE_EXTERNAL: int

    def FS_Info(self, img: object) -> _FsInfo: ...


_ALLOC = 1  # TSK_FS_NAME_FLAG_ALLOC: the entry is in use (TSK also lists deleted names)
_VIRTUAL_NAME_TYPES = frozenset({10, 11})  # TSK_FS_NAME_TYPE_VIRT, _VIRT_DIR ($MBR, $OrphanFiles)
_FAT_LABEL_SUFFIX = b" (Volume Label Entry)"
_META_TYPES = {
    1: FileType.FILE,
    2: FileType.DIR,
    3: FileType.FIFO,
    4: FileType.CHAR,
    5: FileType.BLOCK,
    6: FileType.SYMLINK,
    8: FileType.SOCKET,
}


_STAT_CACHE = 100_000


def _raw_stat(meta: _Meta) -> RawStat:
    return RawStat(
        type=_META_TYPES.get(int(meta.type), FileType.OTHER),
        mode=int(meta.mode) & 0o7777,
        uid=int(meta.uid),
        gid=int(meta.gid),
        size=max(0, int(meta.size)),
        nlink=int(meta.nlink),
        mtime=int(meta.mtime),
    )


def _module() -> _Module:
    return cast(_Module, importlib.import_module("pytsk3"))


def _image_class(module: _Module) -> Callable[[Source], object]:
    """A ``pytsk3.Img_Info`` subclass that reads through a :class:`Source` (TSK calls back)."""

    def init(self: object, source: Source) -> None:
        self.__dict__["source"] = source
        base_init: Callable[..., None] = getattr(module.Img_Info, "__init__")  # noqa: B009
        base_init(self, url="", type=module.TSK_IMG_TYPE_EXTERNAL)

    def read(self: object, offset: int, length: int) -> bytes:
        source = cast(Source, self.__dict__["source"])
        data = source.read(offset, length)
        return data + bytes(length - len(data)) if offset + length <= source.size else data

    def get_size(self: object) -> int:
        return cast(Source, self.__dict__["source"]).size

    def close(self: object) -> None:
        return None

    members = {"__init__": init, "read": read, "get_size": get_size, "close": close}
    return cast(Callable[[Source], object], type("_SourceImage", (module.Img_Info,), members))


class TskBackend:
    """An ext2/3/4 or FAT file system read by TSK; see :class:`~images.fs.model.Backend`."""

    def __init__(self, source: Source, kind: str, where: str) -> None:
        self.kind, self._where = kind, where
        module = _module()
        self._image = _image_class(module)(source)  # TSK keeps no reference: we must
        try:
            self._fs = module.FS_Info(self._image)
        except (OSError, RuntimeError) as exc:
            raise FilesystemError(
                f"{where}: {kind} file system cannot be opened: {reason(exc)}"
            ) from None
        self._fat = kind == "vfat"
        self._stats: dict[int, RawStat] = {}  # filled while listing: TSK loads each entry's inode
        self._last = self._fs.info.last_inum

    def root(self) -> int:
        """The root directory's node."""
        return self._fs.info.root_inum

    def _open(self, node: int) -> _File:
        try:
            return self._fs.open_meta(inode=node)
        except (OSError, RuntimeError) as exc:
            raise FilesystemError(
                f"{self._where}: inode {node} unreadable: {reason(exc)}"
            ) from None

    def entries(self, node: int, limit: int) -> dict[bytes, int]:
        """A directory's entries, name to node (deleted and TSK's virtual entries left out)."""
        out: dict[bytes, int] = {}
        try:
            for item in self._fs.open_dir(inode=node):
                name = item.info.name
                if name is None or not name.flags & _ALLOC or name.name in (b".", b".."):
                    continue
                if name.type in _VIRTUAL_NAME_TYPES or name.meta_addr > self._last:
                    continue
                if self._fat and name.name.endswith(_FAT_LABEL_SUFFIX):
                    continue
                if len(out) >= limit:
                    raise ImageLimitError(
                        f"{self._where}: directory inode {node} has more than {limit} entries"
                    )
                out[name.name] = name.meta_addr
                meta = item.info.meta
                if meta is not None and len(self._stats) < _STAT_CACHE:
                    self._stats[name.meta_addr] = _raw_stat(meta)
        except (OSError, RuntimeError) as exc:
            raise FilesystemError(
                f"{self._where}: directory inode {node} unreadable: {reason(exc)}"
            ) from None
        return out

    def stat(self, node: int) -> RawStat:
        """A node's metadata (FAT has no owner or mode: the caller applies mount options)."""
        cached = self._stats.get(node)
        if cached is not None:
            return cached
        meta = self._open(node).info.meta
        if meta is None:
            raise FilesystemError(f"{self._where}: inode {node} has no metadata")
        return _raw_stat(meta)

    def read(self, node: int, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` of a regular file."""
        handle = self._open(node)
        meta = handle.info.meta
        size = max(0, int(meta.size)) if meta is not None else 0
        length = min(length, size - offset)
        if length <= 0:
            return b""
        try:
            return handle.read_random(offset, length)
        except (OSError, RuntimeError) as exc:
            raise FilesystemError(
                f"{self._where}: inode {node} unreadable: {reason(exc)}"
            ) from None

    def readlink(self, node: int, limit: int) -> bytes:
        """A symbolic link's target; slow (long) links are read from their data blocks."""
        handle = self._open(node)
        meta = handle.info.meta
        if meta is None:
            raise FilesystemError(f"{self._where}: inode {node} has no metadata")
        size = max(0, int(meta.size))
        if size > limit:
            raise ImageLimitError(f"{self._where}: symlink inode {node} is {size} bytes long")
        link = bytes(meta.link or b"")
        if not link and size:
            link = self.read(node, 0, size)
        return link.split(b"\0", 1)[0]
