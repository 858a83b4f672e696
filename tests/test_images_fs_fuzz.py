"""Property tests: mutated superblocks, inodes and directories give only the project's errors.

Each file system is built once with its real tool; hypothesis then changes bytes where the
image holds metadata (the non-zero bytes of its first blocks: superblock, group descriptors or
AG headers, inode tables, directory blocks, FATs) and walks the whole tree. Whatever happens,
the reader must either work or raise an :class:`~images.errors.ImageError`, within seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from images.errors import ImageError
from images.fs import FileType, ImageFiles, Limits, open_filesystems
from tests.test_images_fs_support import MIB, mkfs

_LIMITS = Limits(max_dir_entries=2000, max_results=500, default_read_bytes=MIB)
_SCAN = 512 * 1024


def _tree(root: Path, *, links: bool = True) -> Path:
    (root / "etc/ssh").mkdir(parents=True)
    (root / "etc/ssh/sshd_config").write_text("PermitRootLogin no\n" * 20)
    (root / "etc/os-release").write_text("ID=fuzz\n")
    (root / "etc/fstab").write_text("# none\n")
    (root / "var/lib").mkdir(parents=True)
    for i in range(40):
        (root / f"var/lib/file{i}").write_text(str(i) * (i * 50 + 1))
    if links:  # FAT has none (mcopy would follow them)
        (root / "etc/link").symlink_to("/etc/ssh/sshd_config")
        (root / "etc/long-link").symlink_to("/" + "x" * 200)
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/big").write_bytes(bytes(range(256)) * 400)
    return root


def _walk(files: ImageFiles) -> int:
    """Visit every entry (bounded); return how many were seen."""
    seen, todo = 0, ["/"]
    while todo and seen < 300:
        path = todo.pop()
        for entry in files.list_dir(path):
            seen += 1
            if entry.type is FileType.DIR:
                todo.append(entry.path)
            elif entry.type is FileType.SYMLINK:
                files.read_link(entry.path)
                files.exists(entry.path)
            elif entry.type is FileType.FILE:
                files.stat(entry.path)
                files.read_file(entry.path, truncate=True)
    files.glob("/etc/**/*")
    return seen


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, list[int]]]:
    """Per kind: the pristine image and the offsets where it holds metadata."""
    tmp = tmp_path_factory.mktemp("fuzz")
    trees = {"posix": _tree(tmp / "posix"), "fat": _tree(tmp / "fat", links=False)}
    out: dict[str, tuple[bytes, list[int]]] = {}
    for kind, size in (("ext4", 4 * MIB), ("xfs", 16 * MIB), ("vfat", 2 * MIB)):
        tree = trees["fat" if kind == "vfat" else "posix"]
        data = mkfs(kind, tree, tmp / f"{kind}.img", size).read_bytes()
        hot = [i for i in range(min(len(data), _SCAN)) if data[i]]
        if kind == "xfs":  # the root inode chunk and directory blocks sit past the headers
            hot += [i for i in range(_SCAN, len(data)) if data[i]][:20_000]
        out[kind] = (data, hot)
        with open_filesystems(tmp / f"{kind}.img", root="disk", limits=_LIMITS) as files:
            assert _walk(files) >= 40  # the pristine image reads
    return out


def _mutated(tmp: Path, base: bytes, hot: list[int], picks: list[tuple[int, int]]) -> Path:
    data = bytearray(base)
    for index, value in picks:
        data[hot[index % len(hot)]] = value
    path = tmp / "mutant.img"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["ext4", "xfs", "vfat"])
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    picks=st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1, max_size=24)
)
def test_mutated_metadata_gives_only_image_errors(
    kind: str,
    picks: list[tuple[int, int]],
    images: dict[str, tuple[bytes, list[int]]],
    tmp_path: Path,
) -> None:
    base, hot = images[kind]
    path = _mutated(tmp_path, base, hot, picks)
    started = time.monotonic()
    try:
        with open_filesystems(path, root="disk", limits=_LIMITS) as files:
            _walk(files)
    except ImageError as exc:
        message = str(exc)
        assert "\n" not in message and "mutant.img" in message, message
    assert time.monotonic() - started < 20
