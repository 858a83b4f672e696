"""Where the data of an image file is, and a content digest that ignores sparseness.

``data_extents`` asks the file system for data segments (``SEEK_DATA``/``SEEK_HOLE``), then reads
those segments and drops every ``grain``-sized block that is all zeros, so a preallocated but
zero-filled region counts as a hole too. ``SparseDigest`` hashes only non-zero 4 MiB chunks,
keyed by their index, so two files with the same bytes have the same digest whether their zeros
are holes or written blocks, and a blob read back from page ranges can be hashed the same way.

Neither function reads a hole: data segments come from the file system first.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from images.errors import ImageInputError

CHUNK = 4 * 1024 * 1024
"""The digest's chunk size (4 MiB, also Azure's largest put-page request)."""

GRAIN = 64 * 1024
"""Default zero-check granularity of :func:`data_extents`."""

_READ = CHUNK
"""Read buffer for scanning data segments: one digest chunk, so a scan feeds the digest whole
chunks in place."""

ZERO = bytes(max(CHUNK, _READ))
"""A zero buffer; ``buf == ZERO[:len(buf)]`` is a ``memcmp`` (a full-length slice is free)."""


def _is_zero(chunk: bytes | bytearray | memoryview) -> bool:
    """Whether ``chunk`` is all zeros, by comparison with the zero buffer (never ``any()``)."""
    if isinstance(chunk, memoryview):
        chunk = chunk.tobytes()  # memoryview == bytes compares item by item; bytes uses memcmp
    if len(chunk) > len(ZERO):
        return all(_is_zero(chunk[i : i + len(ZERO)]) for i in range(0, len(chunk), len(ZERO)))
    return chunk == ZERO[: len(chunk)]


@dataclass(frozen=True)
class ExtentMap:
    """The data ranges of a file.

    ``ranges`` are ``(offset, length)`` pairs, sorted, non-overlapping and merged (no two touch).
    ``data_bytes`` is the sum of their lengths; ``size`` is the file length.
    """

    size: int
    ranges: tuple[tuple[int, int], ...]
    data_bytes: int

    @property
    def hole_bytes(self) -> int:
        """Bytes of the file that are holes or zero-filled blocks."""
        return self.size - self.data_bytes

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (ranges as ``[offset, length]`` lists)."""
        return {
            "size": self.size,
            "data_bytes": self.data_bytes,
            "ranges": [[offset, length] for offset, length in self.ranges],
        }


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge ``(offset, length)`` ranges; touching ones are joined, empty ones dropped."""
    merged: list[list[int]] = []
    for offset, length in sorted(r for r in ranges if r[1] > 0):
        end = offset + length
        if merged and offset <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([offset, end])
    return [(start, end - start) for start, end in merged]


def seek_segments(fd: int, size: int) -> list[tuple[int, int]]:
    """Data segments ``(offset, length)`` reported by ``SEEK_DATA``/``SEEK_HOLE``.

    Where the file system does not support them the whole file is one segment (still correct,
    only slower to scan).
    """
    if size == 0:
        return []
    if not hasattr(os, "SEEK_DATA"):  # pragma: no cover - Linux always has them
        return [(0, size)]
    segments: list[tuple[int, int]] = []
    offset = 0
    try:
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no data after offset
                    break
                raise
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            if end <= start:  # defensive: a file system that answers nonsense
                return [(0, size)]
            segments.append((start, end - start))
            offset = end
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return [(0, size)]
        raise
    return segments


def open_image(path: Path) -> tuple[int, int]:
    """Open a regular file read-only and return ``(fd, size)``; unusable input: ImageInputError."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise ImageInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageInputError(f"{path}: is a directory, not an image file") from None
    except PermissionError:
        raise ImageInputError(f"{path}: permission denied (cannot read the image)") from None
    except OSError as exc:
        raise ImageInputError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
    except OSError as exc:  # pragma: no cover - fstat on an open fd practically never fails
        os.close(fd)
        raise ImageInputError(f"{path}: cannot stat: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise ImageInputError(f"{path}: is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ImageInputError(
            f"{path}: not a regular file (block devices and pipes are not supported)"
        )
    return fd, info.st_size


Progress = Callable[[int, int], None]
"""``on_progress(done, total)``: bytes scanned so far of the bytes to scan."""


def _scan_ranges(fd: int, size: int, grain: int) -> list[tuple[int, int]]:
    """The file system's data segments widened to ``grain`` and merged, as ``(start, end)``."""
    out: list[tuple[int, int]] = []
    for seg_start, seg_len in seek_segments(fd, size):
        start = seg_start - seg_start % grain
        end = min(-(-(seg_start + seg_len) // grain) * grain, size)
        if out and start <= out[-1][1]:  # segments sharing a grain: never scan one twice
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif end > start:
            out.append((start, end))
    return out


def scan_data(
    fd: int,
    size: int,
    name: str,
    *,
    grain: int = GRAIN,
    digest: bool = True,
    on_progress: Progress | None = None,
) -> tuple[ExtentMap, str | None]:
    """The data extents of an open file and (with ``digest``) its sparse digest, in one pass.

    File-system holes are skipped without reading; each data byte is read exactly once, in
    ``CHUNK``-aligned pieces, and serves both the zero-grain test and the digest. ``name`` is used
    in error messages only; read errors raise :class:`ImageInputError`.
    """
    if grain <= 0 or _READ % grain:
        raise ValueError(f"grain must divide {_READ} bytes, got {grain}")
    try:
        ranges = _scan_ranges(fd, size, grain)
        total = sum(end - start for start, end in ranges)
        found: list[tuple[int, int]] = []
        hasher = SparseDigest() if digest else None
        buf = bytearray(_READ)
        view = memoryview(buf)
        zero_grain = ZERO[:grain]
        done = 0
        if on_progress is not None:
            on_progress(0, total)
        for start, end in ranges:
            pos = start
            while pos < end:
                # _READ == CHUNK: a piece never straddles a digest chunk, and a whole one is
                # hashed in place
                cut = min(end, (pos // _READ + 1) * _READ)
                got = os.preadv(fd, [view[: cut - pos]], pos)
                if got <= 0:  # the file shrank under us: stop at what exists
                    break
                if (buf if got == _READ else buf[:got]) != ZERO[:got]:
                    for i in range(0, got, grain):
                        if buf[i : min(i + grain, got)] != zero_grain[: min(grain, got - i)]:
                            found.append((pos + i, min(grain, got - i)))
                    if hasher is not None:
                        if got == CHUNK:
                            hasher.update(pos // CHUNK, buf)
                        else:
                            hasher.feed(pos, view[:got])
                pos += got
                done += got
                if on_progress is not None:
                    on_progress(done, total)
        merged = tuple(_merge(found))
        extent_map = ExtentMap(size=size, ranges=merged, data_bytes=sum(n for _, n in merged))
        return extent_map, hasher.hexdigest() if hasher is not None else None
    except OSError as exc:
        raise ImageInputError(f"{name}: read error: {exc.strerror}") from None


def data_extents(path: Path, *, grain: int = GRAIN) -> ExtentMap:
    """The data ranges of ``path`` at ``grain`` granularity.

    File-system holes are skipped without reading; inside data segments every ``grain``-aligned
    block (aligned to the file start) that is all zeros is dropped too. A range's end is clamped to
    the file length, so the last range may end off-grain.
    """
    if grain <= 0 or _READ % grain:
        raise ValueError(f"grain must divide {_READ} bytes, got {grain}")
    fd, size = open_image(path)
    try:
        return scan_data(fd, size, str(path), grain=grain, digest=False)[0]
    finally:
        os.close(fd)


def chunked(
    ranges: Iterable[tuple[int, int]],
    *,
    max_len: int = CHUNK,
    align: int = 512,
    size: int | None = None,
) -> Iterator[tuple[int, int]]:
    """Split ``(offset, length)`` ranges into ``align``-aligned pieces of at most ``max_len`` bytes.

    Each range is widened to ``align`` boundaries (start down, end up), overlapping results are
    merged, and pieces are cut at multiples of ``max_len`` (measured from offset 0), so pieces of
    different ranges never share a ``max_len`` window. When ``size`` is given, ends are clamped to
    it: that is the only way a piece can end off-alignment (the file's unaligned tail).
    ``max_len`` must be a multiple of ``align``.
    """
    if align <= 0 or max_len <= 0 or max_len % align:
        raise ValueError(f"max_len ({max_len}) must be a positive multiple of align ({align})")
    widened = []
    for offset, length in ranges:
        if length <= 0:
            continue
        start = offset - offset % align
        end = -(-(offset + length) // align) * align
        if size is not None:
            end = min(end, size)
        if end > start:
            widened.append((start, end - start))
    for start, length in _merge(widened):
        pos, end = start, start + length
        while pos < end:
            cut = min(end, (pos // max_len + 1) * max_len)
            yield pos, cut - pos
            pos = cut


class SparseDigest:
    """Incremental sparse content digest.

    The digest is SHA-256 over, for every non-zero chunk in index order, the chunk index as 8-byte
    big-endian followed by the SHA-256 of the chunk. A chunk is the ``CHUNK``-aligned 4 MiB window
    ``[index * CHUNK, (index + 1) * CHUNK)``; a short chunk (the file's tail) is hashed as if padded
    with zeros to 4 MiB, so the digest depends only on the non-zero content and its position. The
    file length is therefore not part of the digest: compare sizes separately.

    Feed it either whole chunks with :meth:`update` (indices strictly increasing, all-zero chunks
    may be passed or skipped) or arbitrary data ranges with :meth:`feed` (offsets increasing, gaps
    are zeros), e.g. the page ranges of a blob. Both may be mixed as long as positions increase.
    """

    def __init__(self) -> None:
        self._outer = hashlib.sha256()
        self._last = -1
        self._chunks = 0
        self._pending_index = -1
        self._pending: bytearray | None = None
        self._fed_to = 0

    @property
    def chunks(self) -> int:
        """Non-zero chunks hashed so far (excluding a :meth:`feed` chunk still being assembled)."""
        return self._chunks

    def update(self, chunk_index: int, chunk: bytes | bytearray | memoryview) -> None:
        """Add chunk ``chunk_index`` (at most ``CHUNK`` bytes); all-zero chunks are ignored."""
        if len(chunk) > CHUNK:
            raise ValueError(f"a chunk is at most {CHUNK} bytes, got {len(chunk)}")
        if self._pending is not None and chunk_index != self._pending_index:
            self._flush()  # a chunk that feed() was assembling comes first
        if chunk_index <= self._last:
            raise ValueError(f"chunk {chunk_index} after chunk {self._last}: indices must increase")
        if _is_zero(chunk):
            return
        inner = hashlib.sha256(chunk)
        if len(chunk) < CHUNK:
            inner.update(ZERO[: CHUNK - len(chunk)])
        self._outer.update(chunk_index.to_bytes(8, "big"))
        self._outer.update(inner.digest())
        self._last = chunk_index
        self._chunks += 1

    def feed(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` found at byte ``offset``; calls come in increasing, non-overlapping order.

        Bytes never fed are zeros. Chunks are assembled internally and hashed once complete.
        """
        if offset < self._fed_to:
            raise ValueError(
                f"offset {offset} is before the end of the previous data ({self._fed_to})"
            )
        if offset % CHUNK == 0 and len(data) == CHUNK and not isinstance(data, memoryview):
            self.update(offset // CHUNK, data)  # a whole chunk: hash it without copying
            self._fed_to = offset + CHUNK
            return
        view = memoryview(data).cast("B")
        pos = 0
        while pos < len(view):
            absolute = offset + pos
            index, within = divmod(absolute, CHUNK)
            take = min(len(view) - pos, CHUNK - within)
            if index != self._pending_index:
                self._flush()
                self._pending_index = index
            if within == 0 and take == CHUNK:
                self._pending = None
                self.update(index, view[pos : pos + take])
                self._pending_index = -1
            else:
                if self._pending is None:
                    self._pending = bytearray(CHUNK)
                self._pending[within : within + take] = view[pos : pos + take]
            pos += take
        self._fed_to = offset + len(view)

    def _flush(self) -> None:
        pending, index = self._pending, self._pending_index
        self._pending, self._pending_index = None, -1
        if pending is not None and index >= 0:
            self.update(index, pending)

    def hexdigest(self) -> str:
        """The digest so far as 64 hex digits (includes a chunk :meth:`feed` is assembling)."""
        if self._pending is None:
            return self._outer.hexdigest()
        outer = self._outer.copy()
        if not _is_zero(self._pending):
            outer.update(self._pending_index.to_bytes(8, "big"))
            outer.update(hashlib.sha256(self._pending).digest())
        return outer.hexdigest()


def sparse_digest(path: Path, extents: ExtentMap | None = None) -> str:
    """The :class:`SparseDigest` of a file, reading only its data.

    Without ``extents`` the file system's data segments are used (one pass, holes never read);
    with an :class:`ExtentMap` only its ranges are read.
    """
    fd, size = open_image(path)
    try:
        ranges = extents.ranges if extents is not None else tuple(seek_segments(fd, size))
        digest = SparseDigest()
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        for offset, length in chunked(ranges, max_len=CHUNK, align=1, size=size):
            got = os.preadv(fd, [view[:length]], offset)
            if got <= 0:
                break
            if got == CHUNK and offset % CHUNK == 0:
                digest.update(offset // CHUNK, buf)  # whole chunk: no copy, memcmp zero test
            else:
                digest.feed(offset, view[:got])
        return digest.hexdigest()
    except OSError as exc:
        raise ImageInputError(f"{path}: read error: {exc.strerror}") from None
    finally:
        os.close(fd)
