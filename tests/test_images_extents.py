"""Data-extent map, range chunking and the sparse content digest."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from images.errors import ImageInputError
from images.extents import (
    CHUNK,
    ExtentMap,
    SparseDigest,
    chunked,
    data_extents,
    scan_data,
    sparse_digest,
)

MiB = 1024 * 1024


def _sparse(path: Path, size: int, writes: dict[int, bytes]) -> Path:
    """A sparse file of ``size`` bytes with ``writes`` (offset -> bytes) written into it."""
    with open(path, "wb") as handle:
        handle.truncate(size)
        for offset, data in writes.items():
            handle.seek(offset)
            handle.write(data)
    return path


def _dense(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _reference_digest(content: bytes) -> str:
    """The digest straight from its definition, for comparison."""
    outer = hashlib.sha256()
    for index in range(0, -(-len(content) // CHUNK)):
        chunk = content[index * CHUNK : (index + 1) * CHUNK].ljust(CHUNK, b"\0")
        if chunk.strip(b"\0"):
            outer.update(index.to_bytes(8, "big") + hashlib.sha256(chunk).digest())
    return outer.hexdigest()


def test_extents_skip_holes_and_zero_blocks(tmp_path: Path) -> None:
    path = _sparse(
        tmp_path / "a.img",
        64 * MiB,
        {
            1 * MiB: b"x" * 100,  # one grain
            8 * MiB: bytes(3 * MiB),  # written zeros: not data
            20 * MiB - 10: b"y" * 20,  # straddles a grain boundary: two grains
            64 * MiB - 1: b"z",  # the very last byte
        },
    )
    extents = data_extents(path)
    assert isinstance(extents, ExtentMap)
    assert extents.size == 64 * MiB
    g = 64 * 1024
    assert extents.ranges == ((1 * MiB, g), (20 * MiB - g, 2 * g), (64 * MiB - g, g))
    assert extents.data_bytes == 4 * g
    assert extents.hole_bytes == 64 * MiB - 4 * g


def test_extents_merge_adjacent_grains_and_clamp_tail(tmp_path: Path) -> None:
    path = _dense(tmp_path / "b.img", b"a" * (3 * 64 * 1024 + 100))
    extents = data_extents(path)
    assert extents.ranges == ((0, 3 * 64 * 1024 + 100),)
    assert extents.data_bytes == extents.size


def test_extents_of_empty_and_all_zero_files(tmp_path: Path) -> None:
    assert data_extents(_dense(tmp_path / "e", b"")).ranges == ()
    zeros = data_extents(_dense(tmp_path / "z", bytes(5 * MiB)))
    assert zeros.ranges == () and zeros.data_bytes == 0 and zeros.size == 5 * MiB


def test_extents_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="no such file"):
        data_extents(tmp_path / "missing")
    with pytest.raises(ImageInputError, match="is a directory"):
        data_extents(tmp_path)


def test_chunked_aligns_splits_and_clamps() -> None:
    pieces = list(chunked([(100, 10), (5000, 9 * MiB)], max_len=4 * MiB, align=512))
    assert pieces[0] == (0, 512)
    assert all(off % 512 == 0 and n % 512 == 0 and n <= 4 * MiB for off, n in pieces)
    # pieces never cross a 4 MiB boundary and cover the widened second range exactly
    assert all(off // (4 * MiB) == (off + n - 1) // (4 * MiB) for off, n in pieces)
    covered = sum(n for _, n in pieces[1:])
    assert pieces[1][0] == 4608 and covered == -(-(5000 + 9 * MiB) // 512) * 512 - 4608
    # overlapping after widening: merged into one piece; the file end clamps an unaligned tail
    assert list(chunked([(0, 10), (20, 10)], align=512)) == [(0, 512)]
    assert list(chunked([(1000, 10)], align=512, size=1010)) == [(512, 498)]
    with pytest.raises(ValueError):
        list(chunked([(0, 1)], max_len=1000, align=512))


@given(
    st.lists(st.tuples(st.integers(0, 20 * MiB), st.integers(0, 3 * MiB)), max_size=8),
    st.sampled_from([512, 4096]),
)
def test_chunked_covers_every_input_byte(ranges: list[tuple[int, int]], align: int) -> None:
    pieces = list(chunked(ranges, max_len=MiB, align=align))
    assert pieces == sorted(pieces)
    for (a, n), (b, _) in itertools.pairwise(pieces):
        assert a + n <= b
    for offset, length in ranges:
        if length:
            for probe in (offset, offset + length - 1):
                assert any(a <= probe < a + n for a, n in pieces)


def test_sparse_digest_ignores_sparseness(tmp_path: Path) -> None:
    content = bytearray(13 * MiB + 512)
    content[5 * MiB : 5 * MiB + 3] = b"abc"
    content[13 * MiB + 100 : 13 * MiB + 101] = b"q"  # in the short tail chunk
    dense = _dense(tmp_path / "dense.img", bytes(content))
    sparse = _sparse(
        tmp_path / "sparse.img",
        len(content),
        {5 * MiB: b"abc", 13 * MiB + 100: b"q"},
    )
    assert os.stat(sparse).st_blocks < os.stat(dense).st_blocks  # really different sparseness
    expected = _reference_digest(bytes(content))
    assert sparse_digest(dense) == expected
    assert sparse_digest(sparse) == expected
    assert sparse_digest(sparse, data_extents(sparse)) == expected
    changed = _sparse(tmp_path / "c.img", len(content), {5 * MiB: b"abd", 13 * MiB + 100: b"q"})
    assert sparse_digest(changed) != expected
    moved = _sparse(tmp_path / "m.img", len(content), {9 * MiB: b"abc", 13 * MiB + 100: b"q"})
    assert sparse_digest(moved) != expected


def test_sparse_digest_feed_from_page_ranges_matches_chunks() -> None:
    """The replication path: arbitrary 512-aligned ranges fed in order give the same digest."""
    content = bytearray(10 * MiB)
    content[3 * MiB - 512 : 3 * MiB + 1024] = b"p" * 1536  # crosses a chunk boundary
    content[8 * MiB : 8 * MiB + 512] = b"r" * 512
    by_chunks = SparseDigest()
    for index in range(0, len(content) // CHUNK + 1):
        by_chunks.update(index, bytes(content[index * CHUNK : (index + 1) * CHUNK]))
    fed = SparseDigest()
    fed.feed(3 * MiB - 512, bytes(content[3 * MiB - 512 : 3 * MiB]))
    fed.feed(3 * MiB, bytes(content[3 * MiB : 3 * MiB + 1024]))
    fed.feed(8 * MiB, bytes(content[8 * MiB : 8 * MiB + 512]))
    assert fed.hexdigest() == by_chunks.hexdigest() == _reference_digest(bytes(content))
    assert by_chunks.chunks == 2
    with pytest.raises(ValueError):
        fed.feed(0, b"x")
    with pytest.raises(ValueError):
        by_chunks.update(1, b"x")


def test_sparse_digest_of_all_zero_is_empty_hash() -> None:
    digest = SparseDigest()
    digest.update(0, bytes(CHUNK))
    assert digest.hexdigest() == hashlib.sha256(b"").hexdigest()
    assert digest.chunks == 0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 9 * MiB), st.binary(min_size=1, max_size=3000)), max_size=6)
)
def test_digest_and_extents_agree_with_definition(
    tmp_path_factory: pytest.TempPathFactory, writes: list[tuple[int, bytes]]
) -> None:
    path = tmp_path_factory.mktemp("prop") / "x.img"
    size = 9 * MiB + 3000
    _sparse(path, size, dict(writes))
    content = path.read_bytes()
    assert sparse_digest(path) == _reference_digest(content)
    extents = data_extents(path)
    for offset, length in extents.ranges:
        assert content[offset : offset + length].strip(b"\0")
    outside = bytearray(content)
    for offset, length in extents.ranges:
        outside[offset : offset + length] = bytes(length)
    assert not outside.strip(b"\0")
    # the single pass of load_candidate gives both at once, identical to the separate passes
    fd = os.open(path, os.O_RDONLY)
    try:
        seen: list[tuple[int, int]] = []
        one_pass = scan_data(fd, size, str(path), on_progress=lambda *p: seen.append(p))
    finally:
        os.close(fd)
    assert one_pass == (extents, _reference_digest(content))
    assert seen[0] == (0, seen[-1][1]) and seen[-1][0] == seen[-1][1]


def test_sparse_digest_update_and_feed_mix_in_order() -> None:
    content = bytearray(3 * CHUNK)
    content[100:200] = b"a" * 100
    content[CHUNK : 2 * CHUNK] = b"b" * CHUNK
    content[2 * CHUNK + 5] = 1
    mixed = SparseDigest()
    mixed.feed(100, bytes(content[100:200]))  # partial chunk 0, still being assembled
    mixed.update(1, bytes(content[CHUNK : 2 * CHUNK]))  # flushes chunk 0 first
    mixed.feed(2 * CHUNK + 5, b"\x01")
    assert mixed.hexdigest() == _reference_digest(bytes(content))
    fed = SparseDigest()
    fed.feed(100, bytes(content[100:200]))
    fed.feed(CHUNK, bytes(content[CHUNK : 2 * CHUNK]))  # whole aligned chunk: fast path
    fed.feed(2 * CHUNK + 5, b"\x01")
    assert fed.hexdigest() == mixed.hexdigest()
    with pytest.raises(ValueError):
        fed.feed(CHUNK, bytes(CHUNK))
