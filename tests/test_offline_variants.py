"""The good test image's root tree on an xfs root, and on LVM (xfs root LV, separate xfs /boot):
judged from their files, every check gives the good image's verdict, except the disk-layout
checks that are about LVM itself.

The trees are copied out of the cached good image with :mod:`images.fs` (owners, modes and links
kept in an ``mkfs.xfs`` protofile, so no tool needs root) without its bulk data: kernel modules,
/usr/share, Python's library and shared libraries other than the C library and libcrypto (no
check reads them; the comparison with the good image would show it if one did). The LVM volume
group uses the header recorded from the LVM tools (``tests/fixtures/fs``), whose 64 MiB root LV
takes the tree with files over 512 KiB (but the C library and libcrypto) left empty. The online
side of the comparison is ``tests/test_offline_e2e.py``, which boots the good image: equal
verdicts here make these layouts equal to the booted image's verdicts too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checks.fact import FACTS, load_builtin_facts
from checks.model import Result, Status
from checks.offline import read_image_facts
from checks.plan import CheckPlan
from checks.registry import select_checks
from harness.runner import offline_facts
from images.fs import FileType, ImageFiles, open_filesystems
from images.inspect import inspect_image
from tests.test_images_fs_support import (
    LINUX_TYPE,
    LVM_TYPE,
    MIB,
    RECORDED_PV_SIZE,
    Part,
    make_disk,
    recorded_pv,
    run,
    tool,
)

load_builtin_facts()
PROBED = [f for f in FACTS if f.probed]
EXTENT = 4 * MIB
ROOT_UUID = "7f6c2d4e-1b3a-4c5d-9e8f-0a1b2c3d4e5f"
BOOT_UUID = "2a3b4c5d-6e7f-4a1b-8c9d-0e1f2a3b4c5d"
SKIP = (
    "/usr/share",
    "/usr/lib/python3",
    "/usr/lib/python3.11",
    "/usr/lib/modules",
    "/usr/lib/firmware",
    "/usr/lib/udev",
    "/usr/libexec",
    "/usr/include",
    "/var/cache",
    "/var/lib/apt",
    "/proc",
    "/sys",
    "/dev",
)
KEEP = (
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
)
LAYOUT = {"no_lvm_os_disk", "single_root_partition"}
"""Checks about the disk layout itself: the LVM variant differs from the good image there."""


def _copy(
    files: ImageFiles,
    path: str,
    out: Path,
    lines: list[str],
    depth: int,
    empty: tuple[str, ...],
    hollow: int | None,
) -> None:
    """Copy ``path``'s entries into ``out`` and describe them in protofile ``lines``; the
    directories in ``empty`` are kept without their contents (mount points), files over
    ``hollow`` bytes (other than :data:`KEEP`) are kept empty."""
    pad = " " * depth
    for entry in files.list_dir(path):
        if entry.path in SKIP or any(ch.isspace() for ch in entry.name):
            continue
        stat = files.stat(entry.path, follow_symlinks=False)
        owner = f"{stat.uid} {stat.gid}"
        suid = "u" if stat.mode & 0o4000 else "-"
        sgid = "g" if stat.mode & 0o2000 else "-"
        perm = f"{suid}{sgid}{stat.mode & 0o777:03o}"
        if entry.type is FileType.DIR:
            lines.append(f"{pad}{entry.name} d{perm} {owner}")
            if entry.path not in empty:
                _copy(files, entry.path, out, lines, depth + 1, empty, hollow)
            lines.append(f"{pad}$")
        elif entry.type is FileType.SYMLINK:
            lines.append(f"{pad}{entry.name} l{perm} {owner} {files.read_link(entry.path)}")
        elif entry.type is FileType.FILE:
            if entry.path.startswith("/usr/lib/x86_64-linux-gnu/") and entry.path not in KEEP:
                continue
            data = out / f"f{len(lines)}"
            big = hollow is not None and stat.size > hollow and entry.path not in KEEP
            data.write_bytes(b"" if big else files.read_file(entry.path, 64 * MIB))
            lines.append(f"{pad}{entry.name} -{perm} {owner} {data}")


def _protofile(
    files: ImageFiles,
    top: str,
    work: Path,
    fstab: str | None,
    empty: tuple[str, ...] = (),
    hollow: int | None = None,
) -> Path:
    blobs = work / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    lines = ["/dev/null", "0 0", "d--755 0 0"]
    _copy(files, top, blobs, lines, 1, empty, hollow)
    lines.append("$")
    proto = work / "proto"
    text = "\n".join(lines) + "\n"
    if fstab is not None:  # the new layout's /etc/fstab
        (blobs / "fstab").write_text(fstab)
        text = "\n".join(
            f"{ln.rsplit(' ', 1)[0]} {blobs / 'fstab'}" if ln.strip().startswith("fstab -") else ln
            for ln in text.splitlines()
        )
    proto.write_text(text + "\n", encoding="utf-8", errors="surrogateescape")
    return proto


def _xfs(proto: Path, out: Path, size: int, uuid: str) -> Path:
    tool("mkfs.xfs")
    with open(out, "wb") as handle:
        handle.truncate(size)
    env = {**os.environ, "TEST_DIR": "/tmp", "TEST_DEV": "/dev/null", "QA_CHECK_FS": "1"}
    run("mkfs.xfs", "-q", "-f", "-m", f"uuid={uuid}", "-p", proto, out, env=env)
    return out


@pytest.fixture(scope="module")
def good(good_image: Path) -> Path:
    return good_image


@pytest.fixture(scope="module")
def xfs_root(good: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MBR, one partition: the good tree (pruned) on xfs."""
    tmp = tmp_path_factory.mktemp("xfs-root")
    fstab = f"UUID={ROOT_UUID} / xfs defaults 0 1\n"
    with open_filesystems(good) as files:
        proto = _protofile(files, "/", tmp / "root", fstab)
    root = _xfs(proto, tmp / "root.img", 300 * MIB, ROOT_UUID)
    make_disk(tmp / "xfs.raw", [Part(300, "83", root)], scheme="mbr")
    return tmp / "xfs.raw"


@pytest.fixture(scope="module")
def lvm_root(good: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GPT: /boot on xfs, then an LVM PV whose root LV (64 MiB) holds the rest on xfs."""
    tmp = tmp_path_factory.mktemp("lvm-root")
    fstab = (
        f"/dev/mapper/vmcertvg-root / xfs defaults 0 1\nUUID={BOOT_UUID} /boot xfs defaults 0 2\n"
    )
    with open_filesystems(good) as files:
        boot = _xfs(
            _protofile(files, "/boot", tmp / "boot", None), tmp / "boot.img", 300 * MIB, BOOT_UUID
        )
        # the recorded volume group's root LV has 64 MiB: big binaries are kept empty
        proto = _protofile(files, "/", tmp / "root", fstab, empty=("/boot",), hollow=512 * 1024)
    root = _xfs(proto, tmp / "root.img", 64 * MIB, ROOT_UUID)
    parts = [
        Part(300, LINUX_TYPE, boot),
        Part(RECORDED_PV_SIZE // MIB, LVM_TYPE, None, recorded_pv()),
    ]
    offsets = make_disk(tmp / "lvm.raw", parts)
    with open(tmp / "lvm.raw", "r+b") as disk:
        disk.seek(offsets[1] + MIB)  # the root LV: extents 0-15 of the PV
        disk.write(root.read_bytes())
    return tmp / "lvm.raw"


def _verdicts(image: Path) -> dict[str, Result]:
    collection = read_image_facts(image, PROBED)
    assert not collection.facts.errors, collection.facts.errors
    facts = offline_facts(inspect_image(image, extents=False)).merged(collection.facts)
    results = CheckPlan(select_checks()).evaluate(facts, unavailable=collection.unavailable)
    return {r.check_id: r for r in results}


def _compare(good: Path, other: Path, ignore: set[str]) -> dict[str, Result]:
    expected, got = _verdicts(good), _verdicts(other)
    differ = {
        cid: (expected[cid].status, got[cid].status, got[cid].message[:160])
        for cid in expected
        if cid not in ignore
        and not cid.startswith("vhd_")
        and cid != "os_disk_size"
        and expected[cid].status != got[cid].status
    }
    assert differ == {}, differ
    return got


def test_xfs_root_gives_the_good_images_verdicts(good: Path, xfs_root: Path) -> None:
    with open_filesystems(xfs_root) as files:
        assert files.volumes[0].filesystem == "xfs"
    got = _compare(good, xfs_root, set())
    assert got["ssh_client_alive_interval"].status is Status.PASS
    assert got["hyperv_initramfs"].status is Status.PASS


def test_lvm_root_gives_the_good_images_verdicts_but_for_lvm(good: Path, lvm_root: Path) -> None:
    with open_filesystems(lvm_root) as files:
        assert files.root_volume == "lvm:vmcertvg/root"
        assert [m.path for m in files.mounts] == ["/boot"]
    got = _compare(good, lvm_root, LAYOUT)
    assert got["no_lvm_os_disk"].status is Status.WARNING
    assert "LVM" in got["no_lvm_os_disk"].actual
