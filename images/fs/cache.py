"""A small read cache in front of a volume: file-system libraries read in many small pieces."""

from __future__ import annotations

from collections import OrderedDict

from images.fs.model import Source

CHUNK = 64 * 1024
CHUNKS = 128
"""8 MiB of cache per volume: metadata blocks are re-read many times while walking a tree."""


class CachedSource:
    """``source`` read in aligned :data:`CHUNK` pieces, the last :data:`CHUNKS` of them kept."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self.size = source.size
        self._chunks: OrderedDict[int, bytes] = OrderedDict()

    def _chunk(self, index: int) -> bytes:
        data = self._chunks.get(index)
        if data is None:
            data = self._source.read(index * CHUNK, CHUNK)
            self._chunks[index] = data
            if len(self._chunks) > CHUNKS:
                self._chunks.popitem(last=False)
        else:
            self._chunks.move_to_end(index)
        return data

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (short or empty past the end)."""
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        end = min(offset + length, self.size)
        if end - offset > CHUNK * 4:  # bulk file data: straight through, not worth caching
            return self._source.read(offset, end - offset)
        first, last = offset // CHUNK, (end - 1) // CHUNK
        if first == last:
            base = first * CHUNK
            return self._chunk(first)[offset - base : end - base]
        joined = b"".join(self._chunk(i) for i in range(first, last + 1))
        base = first * CHUNK
        return joined[offset - base : end - base]
