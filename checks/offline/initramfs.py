"""Listing an initramfs's file names as ``lsinitramfs`` does, without its tools.

An initramfs is one or more ``newc`` cpio archives back to back: uncompressed ones first (CPU
microcode), each ending with its ``TRAILER!!!`` entry and zero padding, then usually one
compressed archive (gzip, zstd, xz, lzma, bzip2; lz4's legacy frames when the ``lz4`` package is
installed). Names are yielded as stored, in archive order; the caller stops when it has what it
needs, so only as much is decompressed as that takes.

Bounds: the file is read in 1 MiB pieces (at most :data:`FILE_LIMIT`), at most
:data:`OUTPUT_LIMIT` bytes are decompressed, names are at most 4096 bytes, and the caller's
:meth:`~checks.offline.image.OfflineImage.tick` deadline runs between pieces.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import Protocol

from checks.offline.image import OfflineError

CHUNK = 1024 * 1024
FILE_LIMIT = 1024 * 1024 * 1024
OUTPUT_LIMIT = 2 * 1024 * 1024 * 1024
_NAME_LIMIT = 4096
_HEADER = 110
_MAGICS = (b"070701", b"070702")

ReadAt = Callable[[int, int], bytes]
"""``read(offset, length)`` of the initramfs file (short at its end)."""


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def eof(self) -> bool: ...


class _Zlib:
    """``zlib.decompressobj`` behind the same interface as lzma/bz2/zstd's decompressors."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj(wbits=31)

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        data = self._inner.unconsumed_tail + data
        out = self._inner.decompress(data, max(0, max_length))
        return out

    @property
    def needs_input(self) -> bool:
        return not self._inner.unconsumed_tail

    @property
    def eof(self) -> bool:
        return self._inner.eof


def _zstd() -> _Decompressor:
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            raise OfflineError(
                "zstd-compressed initramfs: install the 'backports.zstd' package"
            ) from None
    decompressor: _Decompressor = zstd.ZstdDecompressor()
    return decompressor


class _Lz4Legacy:
    """lz4's legacy frame format (magic ``02214c18``, 8 MiB blocks), as the kernel reads it."""

    def __init__(self) -> None:
        try:
            import lz4.block  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise OfflineError("lz4-compressed initramfs: install the 'lz4' package") from None
        self._block = lz4.block
        self._buffer = b""
        self._started = False
        self.eof = False

    @property
    def needs_input(self) -> bool:
        return True

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        self._buffer += data
        if not self._started:
            if len(self._buffer) < 4:
                return b""
            self._buffer, self._started = self._buffer[4:], True
        out = bytearray()
        while len(self._buffer) >= 4:
            size = int.from_bytes(self._buffer[:4], "little")
            if size == 0x184C2102:  # another frame starts
                self._buffer = self._buffer[4:]
                continue
            if size > 16 * 1024 * 1024:
                self.eof = True
                break
            if len(self._buffer) < 4 + size:
                break
            block = self._buffer[4 : 4 + size]
            self._buffer = self._buffer[4 + size :]
            try:
                out += self._block.decompress(block, uncompressed_size=8 * 1024 * 1024)
            except Exception as exc:  # lz4's own error type
                raise OfflineError(f"corrupt lz4 data in the initramfs ({exc})") from None
        return bytes(out)


def _decompressor(magic: bytes) -> _Decompressor | None:
    if magic.startswith(b"\x1f\x8b"):
        return _Zlib()
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        return _zstd()
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)
    if magic.startswith(b"\x5d\x00\x00"):
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    if magic.startswith(b"BZh"):
        return bz2.BZ2Decompressor()
    if magic.startswith(b"\x02\x21\x4c\x18"):
        return _Lz4Legacy()
    return None


class _Stream:
    """Bytes of the (part of the) file being parsed, decompressed or not, read as needed."""

    def __init__(self, read: ReadAt, size: int, offset: int, tick: Callable[[], None]) -> None:
        self._read, self._size, self.offset, self._tick = read, min(size, FILE_LIMIT), offset, tick
        self._buffer = b""
        self._decompressor: _Decompressor | None = None
        self._produced = 0
        self.consumed = 0
        """Bytes handed out so far (in the archive's own coordinates)."""

    def compressed(self, decompressor: _Decompressor) -> None:
        self._decompressor = decompressor

    def _more(self) -> bool:
        self._tick()
        if self._decompressor is None:
            chunk = self._read(self.offset, min(CHUNK, self._size - self.offset))
            self.offset += len(chunk)
            self._buffer += chunk
            return bool(chunk)
        if self._decompressor.eof:
            return False
        if self._decompressor.needs_input:
            chunk = self._read(self.offset, min(CHUNK, self._size - self.offset))
            self.offset += len(chunk)
            if not chunk:
                return False
        else:
            chunk = b""
        try:
            out = self._decompressor.decompress(chunk, CHUNK)
        except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
            raise OfflineError(f"corrupt compressed data in the initramfs ({exc})") from None
        self._produced += len(out)
        if self._produced > OUTPUT_LIMIT:
            raise OfflineError(f"the initramfs decompresses to more than {OUTPUT_LIMIT} bytes")
        self._buffer += out
        return True

    def take(self, count: int) -> bytes | None:
        """Exactly ``count`` bytes, or None at the end."""
        while len(self._buffer) < count:
            if not self._more():
                return None
        out, self._buffer = self._buffer[:count], self._buffer[count:]
        self.consumed += count
        return out

    def skip(self, count: int) -> bool:
        while count > 0:
            if not self._buffer and not self._more():
                return False
            step = min(count, len(self._buffer))
            self._buffer = self._buffer[step:]
            self.consumed += step
            count -= step
        return True

    def unused(self) -> int:
        """File offset just after what was consumed (uncompressed streams only)."""
        return self.offset - len(self._buffer)


def _entries(stream: _Stream) -> Iterator[str]:
    """Names of one cpio archive, up to its trailer."""
    while True:
        header = stream.take(_HEADER)
        if header is None or header[:6] not in _MAGICS:
            if header is not None and header.strip(b"\0"):
                raise OfflineError("the initramfs is not a newc cpio archive where one should be")
            return
        try:
            filesize = int(header[54:62], 16)
            namesize = int(header[94:102], 16)
        except ValueError:
            raise OfflineError("corrupt cpio header in the initramfs") from None
        if not 0 < namesize <= _NAME_LIMIT:
            raise OfflineError("corrupt cpio header in the initramfs (name size)")
        name = stream.take(namesize)
        if name is None:
            return
        stream.skip((-(_HEADER + namesize)) % 4)
        text = name.rstrip(b"\0").decode("utf-8", "replace")
        if text == "TRAILER!!!":
            return
        yield text
        if not stream.skip(filesize + (-filesize) % 4):
            return


def _next_archive(read: ReadAt, size: int, offset: int) -> tuple[int, bytes] | None:
    """Offset and first bytes of the next archive at or after ``offset`` (zeros skipped)."""
    limit = min(size, offset + 64 * 1024 * 1024)
    while offset < limit:
        chunk = read(offset, min(CHUNK, limit - offset))
        if not chunk:
            return None
        stripped = chunk.lstrip(b"\0")
        if stripped:
            at = offset + len(chunk) - len(stripped)
            return at, read(at, 8)
        offset += len(chunk)
    return None


def list_names(read: ReadAt, size: int, tick: Callable[[], None]) -> Iterator[str]:
    """Every name in the initramfs, archive by archive (see the module docstring)."""
    offset = 0
    for _ in range(16):  # at most 16 concatenated archives
        found = _next_archive(read, size, offset)
        if found is None:
            return
        offset, magic = found
        stream = _Stream(read, size, offset, tick)
        if magic[:6] in _MAGICS:
            yield from _entries(stream)
            offset = stream.unused()
            continue
        decompressor = _decompressor(magic)
        if decompressor is None:
            raise OfflineError(f"unknown compression in the initramfs (magic {magic[:6].hex()})")
        stream.compressed(decompressor)
        yield from _entries(stream)
        return
