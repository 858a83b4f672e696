"""Property tests: an image whose metadata or file contents are mutated gives, for each fact,
a value or one of the project's own errors: never an exception out of the collector, never a
reader bug (a foreign exception inside a reader), never a hang.

The Debian-like tree of :mod:`tests.test_offline_support` is written into a whole-disk ext4
image once; hypothesis changes bytes where it holds data (superblock, group descriptors, inode
tables, directories, and the files the readers parse: the kernel header, the initramfs, the
package database, configuration files) and reads every fact offline.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.fact import FACTS, load_builtin_facts
from checks.offline import read_image_facts
from images.fs import Limits
from tests.test_images_fs_support import MIB, mkfs
from tests.test_offline_support import debian_tree

load_builtin_facts()
PROBED = [f for f in FACTS if f.probed]
LIMITS = Limits(max_dir_entries=2000, max_results=500, default_read_bytes=4 * MIB)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[int]]:
    """The image and the offsets of its non-zero bytes."""
    tmp = tmp_path_factory.mktemp("offline-fuzz")
    data = mkfs("ext4", debian_tree(tmp / "root"), tmp / "root.img", 16 * MIB).read_bytes()
    collection = read_image_facts(tmp / "root.img", PROBED, limits=LIMITS)
    assert not collection.facts.errors and len(collection.facts) >= 18  # the pristine image reads
    return data, [i for i, b in enumerate(data) if b]


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    picks=st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1, max_size=32)
)
def test_mutated_images_give_only_the_projects_errors(
    picks: list[tuple[int, int]], pristine: tuple[bytes, list[int]], tmp_path: Path
) -> None:
    base, hot = pristine
    data = bytearray(base)
    for index, value in picks:
        data[hot[index % len(hot)]] = value
    path = tmp_path / "mutant.img"
    path.write_bytes(data)
    started = time.monotonic()
    collection = read_image_facts(path, PROBED, limits=LIMITS)  # never raises
    assert time.monotonic() - started < 20
    for name, message in collection.facts.errors.items():
        assert "offline reader failed" not in message, (name, message)
        assert "\n" not in message, message
    for name, reason in collection.unavailable.items():
        assert "\n" not in reason, (name, reason)
