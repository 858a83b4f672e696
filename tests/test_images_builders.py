"""Builders for test images (sparse raw files, sfdisk tables, mkfs, our own VHD footers).

Other ``test_images_*``/``test_inspect*`` modules import these; the tests here check that the
builders agree with the real tools (our footer against qemu-img's, our layout against sfdisk's).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from images.extents import data_extents
from images.vhd import FOOTER_SIZE, build_footer, chs_geometry, parse_footer

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

ESP_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
SWAP_GUID = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
LVM_GUID = "E6D6D379-F507-44C2-A23C-238F2A3DF928"

GOOD_SIZE = 30 * GiB
GOOD_LAYOUT = (
    "label: gpt\n"
    f"start=2048, size={100 * MiB // 512}, type={ESP_GUID}, name=esp\n"
    f"start={2048 + 100 * MiB // 512}, size={256 * MiB // 512}, type={LINUX_GUID}, name=root\n"
)
SMALL_GPT = (
    "label: gpt\n"
    f"start=2048, size=8192, type={ESP_GUID}, name=esp\n"
    f"start=10240, size=65536, type={LINUX_GUID}, name=root\n"
)
"""A layout that fits a 64 MiB disk."""
SMALL_DOS = "label: dos\nstart=2048, size=8192, type=ef\nstart=10240, size=65536, type=83\n"
ESP_START = 2048
ROOT_START = 2048 + 100 * MiB // 512

MKFS = {
    "ext2": ["mkfs.ext2", "-q", "-F"],
    "ext3": ["mkfs.ext3", "-q", "-F"],
    "ext4": ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1"],
    "xfs": ["mkfs.xfs", "-q", "-f"],
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
    "vfat": ["mkfs.vfat"],
    "swap": ["mkswap"],
}


def run(*cmd: str | os.PathLike[str]) -> str:
    """Run a tool, failing the test with its stderr when it fails."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def raw_disk(path: Path, size: int, layout: str | None = None) -> Path:
    """A sparse raw disk of ``size`` bytes, partitioned by the sfdisk script ``layout``."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    if layout is not None:
        proc = subprocess.run(
            ["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(path)],
            input=layout,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
    return path


def splice(dst: Path, offset: int, src: Path) -> None:
    """Copy the data extents of ``src`` into ``dst`` at ``offset``, keeping ``dst`` sparse."""
    extents = data_extents(src)
    with open(src, "rb") as fin, open(dst, "r+b") as fout:
        for start, length in extents.ranges:
            fin.seek(start)
            fout.seek(offset + start)
            fout.write(fin.read(length))


def make_fs(workdir: Path, kind: str, size: int) -> Path:
    """A file holding a ``kind`` file system (or swap area) of ``size`` bytes."""
    image = workdir / f"{kind}-{size}.fs"
    if not image.exists():
        with open(image, "wb") as handle:
            handle.truncate(size)
        run(*MKFS[kind], image)
    return image


def put_fs(disk: Path, start_sector: int, kind: str, size: int, workdir: Path) -> None:
    """Write a fresh ``kind`` file system of ``size`` bytes at ``start_sector`` of ``disk``."""
    splice(disk, start_sector * 512, make_fs(workdir, kind, size))


def put_bytes(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes in place."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def lvm_label() -> bytes:
    """Sector 1 of an LVM2 physical volume: ``LABELONE`` ... ``LVM2 001`` (enough for blkid)."""
    return b"LABELONE" + struct.pack("<QII", 1, 0, 32) + b"LVM2 001" + bytes(512 - 32)


def ntfs_boot_sector() -> bytes:
    """A minimal NTFS boot sector (OEM id ``NTFS    `` and the 55AA signature)."""
    sector = bytearray(512)
    sector[0:3] = b"\xeb\x52\x90"
    sector[3:11] = b"NTFS    "
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def fixed_vhd(raw: Path, dst: Path | None = None, *, current_size: int | None = None) -> Path:
    """A fixed VHD made by copying ``raw`` (sparse) and appending our own footer."""
    dst = dst or raw.with_suffix(".vhd")
    run("cp", "--sparse=always", raw, dst)
    size = os.path.getsize(raw)
    with open(dst, "ab") as handle:
        handle.write(build_footer(size if current_size is None else current_size))
    return dst


def good_raw(workdir: Path) -> Path:
    """The raw disk of the image that passes every check: 30 GiB, GPT, ESP (vfat) + root (ext4)."""
    disk = raw_disk(workdir / "good.raw", GOOD_SIZE, GOOD_LAYOUT)
    put_fs(disk, ESP_START, "vfat", 100 * MiB, workdir)
    put_fs(disk, ROOT_START, "ext4", 256 * MiB, workdir)
    return disk


@pytest.fixture(scope="session")
def image_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-session directory for built images and file-system files."""
    return tmp_path_factory.mktemp("images")


def copy_sparse(src: Path, dst: Path) -> Path:
    """``cp --sparse=always``."""
    run("cp", "--sparse=always", src, dst)
    return dst


def test_our_footer_matches_qemu_img(tmp_path: Path) -> None:
    raw = raw_disk(tmp_path / "q.raw", 64 * MiB)
    qemu = tmp_path / "q.vhd"
    run(
        "qemu-img",
        "convert",
        "-f",
        "raw",
        "-O",
        "vpc",
        "-o",
        "subformat=fixed,force_size",
        raw,
        qemu,
    )
    with open(qemu, "rb") as handle:
        handle.seek(-FOOTER_SIZE, os.SEEK_END)
        theirs = parse_footer(handle.read())
    ours = parse_footer(build_footer(64 * MiB))
    assert theirs.checksum_ok and ours.checksum_ok
    assert theirs.disk_type == ours.disk_type == 2
    assert theirs.current_size == ours.current_size == 64 * MiB
    # force_size makes qemu write the maximal CHS (65535/16/255) as "use current size" marker
    assert (theirs.cylinders, theirs.heads, theirs.sectors_per_track) == (65535, 16, 255)
    assert theirs.data_offset == ours.data_offset
    assert theirs.version == ours.version and theirs.features == ours.features


def test_chs_geometry_matches_qemu_rounding(tmp_path: Path) -> None:
    """Without force_size qemu rounds the size to the spec's CHS geometry: ours agrees."""
    raw = raw_disk(tmp_path / "r.raw", 100 * MiB + 7 * 512)
    vhd = tmp_path / "r.vhd"
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", raw, vhd)
    with open(vhd, "rb") as handle:
        handle.seek(-FOOTER_SIZE, os.SEEK_END)
        footer = parse_footer(handle.read())
    geometry = (footer.cylinders, footer.heads, footer.sectors_per_track)
    assert chs_geometry(footer.current_size) == geometry
    assert footer.current_size == geometry[0] * geometry[1] * geometry[2] * 512


def test_builders_make_what_sfdisk_reports(tmp_path: Path) -> None:
    disk = good_raw(tmp_path)
    dump = run("sfdisk", "-d", disk)
    assert f"start=        {ESP_START}" in dump and f"start=      {ROOT_START}" in dump
    assert os.stat(disk).st_blocks * 512 < 64 * MiB  # still sparse
    assert shutil.which("blkid") is None or "ext4" in run(
        "blkid", "-p", "-O", str(ROOT_START * 512), "-o", "value", "-s", "TYPE", disk
    )
