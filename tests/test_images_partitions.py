"""MBR/GPT parsing, table problems, lying tables and file-system signatures."""

from __future__ import annotations

import binascii
import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from images.errors import ImageError, ImageFormatError
from images.filesystems import detect_filesystem_bytes
from images.inspect import inspect_image
from images.partitions import PartitionTable
from tests.test_images_builders import (
    ESP_GUID,
    LINUX_GUID,
    SMALL_DOS,
    SMALL_GPT,
    MiB,
    lvm_label,
    make_fs,
    ntfs_boot_sector,
    put_bytes,
    put_fs,
    raw_disk,
)

SECTOR = 512


def _table(path: Path) -> PartitionTable:
    table = inspect_image(path, extents=False).partition_table
    assert table is not None
    return table


def _fix_header_crc(path: Path, lba: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(lba * SECTOR)
        header = bytearray(handle.read(92))
        header[16:20] = bytes(4)
        header[16:20] = struct.pack("<I", binascii.crc32(bytes(header)))
        handle.seek(lba * SECTOR)
        handle.write(header)


def test_gpt_partitions_types_names_and_signatures(tmp_path: Path) -> None:
    disk = raw_disk(tmp_path / "g.raw", 64 * MiB, SMALL_GPT)
    put_fs(disk, 2048, "vfat", 4 * MiB, tmp_path)
    put_fs(disk, 10240, "ext4", 32 * MiB, tmp_path)
    table = _table(disk)
    assert table.kind == "gpt" and table.valid and table.problems == ()
    assert table.header_crc_ok and table.entries_crc_ok and table.backup_ok
    assert table.protective_mbr_ok
    esp, root = table.partitions
    assert (esp.index, esp.start_lba, esp.size, esp.type_id) == (1, 2048, 4 * MiB, ESP_GUID)
    assert (esp.type_name, esp.name, esp.filesystem) == ("EFI System", "esp", "vfat")
    assert (root.index, root.start, root.size_sectors) == (2, 10240 * SECTOR, 65536)
    assert (root.type_id, root.type_name, root.name) == (LINUX_GUID, "Linux filesystem", "root")
    assert root.filesystem == "ext4" and root.is_linux_root_capable and not root.is_swap
    assert table.to_dict()["partitions"][1]["filesystem"] == "ext4"  # type: ignore[index]


def test_mbr_extended_and_logical_partitions(tmp_path: Path) -> None:
    layout = (
        "label: dos\nstart=2048, size=8192, type=83, bootable\n"
        "start=10240, size=40960, type=5\n"
        "start=12288, size=8192, type=83\nstart=22528, size=8192, type=82\n"
    )
    disk = raw_disk(tmp_path / "m.raw", 64 * MiB, layout)
    put_fs(disk, 22528, "swap", 4 * MiB, tmp_path)
    table = _table(disk)
    assert table.kind == "mbr" and table.valid
    got = [(p.index, p.role, p.start_lba, p.size_sectors, p.type_id) for p in table.partitions]
    assert got == [
        (1, "primary", 2048, 8192, "0x83"),
        (2, "extended", 10240, 40960, "0x05"),
        (5, "logical", 12288, 8192, "0x83"),
        (6, "logical", 22528, 8192, "0x82"),
    ]
    assert table.partitions[0].bootable and table.partitions[0].type_name == "Linux"
    swap = table.partitions[3]
    assert swap.type_name == "Linux swap" and swap.filesystem == "swap" and swap.is_swap


@pytest.mark.parametrize(
    ("kind", "size"),
    [
        ("ext2", 8 * MiB),
        ("ext3", 8 * MiB),
        ("ext4", 8 * MiB),
        ("xfs", 300 * MiB),
        ("btrfs", 128 * MiB),
        ("vfat", 8 * MiB),
        ("swap", 8 * MiB),
    ],
)
def test_signatures_made_by_real_tools(tmp_path: Path, kind: str, size: int) -> None:
    fs = make_fs(tmp_path, kind, size)
    with open(fs, "rb") as handle:
        assert detect_filesystem_bytes(handle.read(0x10100)) == kind


def test_swapspace2_lvm_ntfs_and_none_signatures() -> None:
    swap = bytearray(4096)
    swap[4086:4096] = b"SWAPSPACE2"
    assert detect_filesystem_bytes(bytes(swap)) == "swap"
    assert detect_filesystem_bytes(bytes(512) + lvm_label()) == "lvm2"
    assert detect_filesystem_bytes(ntfs_boot_sector()) == "ntfs"
    assert detect_filesystem_bytes(bytes(0x10100)) == "none"
    assert detect_filesystem_bytes(b"") == "none"


def test_gpt_crc_errors_are_problems(tmp_path: Path) -> None:
    disk = raw_disk(tmp_path / "c.raw", 64 * MiB, SMALL_GPT)
    put_bytes(disk, 2 * SECTOR + 56, b"X")  # a byte of entry 1's name: entry-array CRC breaks
    table = _table(disk)
    assert not table.entries_crc_ok and not table.valid
    assert "GPT partition entry array CRC32 mismatch" in table.problems
    disk2 = raw_disk(tmp_path / "h.raw", 64 * MiB, SMALL_GPT)
    put_bytes(disk2, SECTOR + 40, b"\x23")  # first usable LBA changes: header CRC breaks
    table2 = _table(disk2)
    assert table2.header_crc_ok is False
    assert "primary GPT header CRC32 mismatch" in table2.problems


def test_gpt_backup_and_protective_mbr_problems(tmp_path: Path) -> None:
    disk = raw_disk(tmp_path / "b.raw", 64 * MiB, SMALL_GPT)
    with open(disk, "r+b") as handle:
        handle.truncate(80 * MiB)  # grown without moving the backup header
    table = _table(disk)
    assert table.backup_ok is False
    assert any("disk's last sector is 163839" in p for p in table.problems)
    wiped = raw_disk(tmp_path / "w.raw", 64 * MiB, SMALL_GPT)
    put_bytes(wiped, 64 * MiB - SECTOR, bytes(SECTOR))
    assert "backup GPT header missing at sector 131071" in _table(wiped).problems
    disk2 = raw_disk(tmp_path / "p.raw", 64 * MiB, SMALL_GPT)
    put_bytes(disk2, 0, bytes(SECTOR))
    table2 = _table(disk2)
    assert table2.kind == "gpt" and table2.protective_mbr_ok is False
    assert "no protective MBR (type 0xee) in sector 0" in table2.problems


def _mbr(entries: list[tuple[int, int, int]]) -> bytes:
    sector = bytearray(SECTOR)
    for i, (ptype, start, sectors) in enumerate(entries):
        sector[446 + 16 * i : 462 + 16 * i] = struct.pack(
            "<B3sB3sII", 0, b"", ptype, b"", start, sectors
        )
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def test_mbr_overlap_and_past_the_end(tmp_path: Path) -> None:
    disk = raw_disk(tmp_path / "o.raw", 64 * MiB)
    put_bytes(disk, 0, _mbr([(0x83, 2048, 20000), (0x83, 10000, 20000), (0x83, 100000, 50000)]))
    table = _table(disk)
    assert any("partitions 1" in p and "and 2" in p and "overlap" in p for p in table.problems)
    assert any("partition 3 ends at sector 149999, past the end" in p for p in table.problems)


def test_sfdisk_table_past_the_end_after_truncation(tmp_path: Path) -> None:
    disk = raw_disk(tmp_path / "t.raw", 64 * MiB, SMALL_DOS)
    with open(disk, "r+b") as handle:
        handle.truncate(16 * MiB)
    table = _table(disk)
    assert table.problems == (
        "partition 2 ends at sector 75775, past the end of the disk (last sector 32767)",
    )


def test_lying_tables_raise_image_format_error(tmp_path: Path) -> None:
    huge = raw_disk(tmp_path / "n.raw", 64 * MiB, SMALL_GPT)
    put_bytes(huge, SECTOR + 80, struct.pack("<I", 0x10000000))  # 268M entries
    _fix_header_crc(huge, 1)
    with pytest.raises(ImageFormatError, match=r"n.raw: partition table lies: .*268435456 entries"):
        inspect_image(huge)
    outside = raw_disk(tmp_path / "a.raw", 64 * MiB, SMALL_GPT)
    put_bytes(outside, SECTOR + 72, struct.pack("<Q", 10**9))
    with pytest.raises(ImageFormatError, match="entry array at sector 1000000000, outside"):
        inspect_image(outside)
    no_header = raw_disk(tmp_path / "e.raw", 64 * MiB, SMALL_GPT)
    put_bytes(no_header, SECTOR, bytes(SECTOR))
    put_bytes(no_header, 64 * MiB - SECTOR, bytes(SECTOR))
    with pytest.raises(ImageFormatError, match="protective MBR announces GPT but there is no"):
        inspect_image(no_header)
    loop = raw_disk(tmp_path / "l.raw", 64 * MiB)
    put_bytes(loop, 0, _mbr([(0x05, 2048, 40000)]))
    put_bytes(loop, 2048 * SECTOR, _mbr([(0x83, 2048, 100), (0x05, 0, 40000)]))  # points at itself
    with pytest.raises(ImageFormatError, match="extended-partition chain loops"):
        inspect_image(loop)


def test_superfloppy_and_fat_boot_sector_are_not_mbr(tmp_path: Path) -> None:
    disk = raw_disk(tmp_path / "s.raw", 16 * MiB)
    put_fs(disk, 0, "vfat", 16 * MiB, tmp_path)
    table = _table(disk)
    assert table.kind == "none" and table.whole_disk_filesystem == "vfat"


_TABLE_BYTES = st.lists(
    st.tuples(st.integers(0, 34 * SECTOR - 1), st.integers(0, 255)), min_size=1, max_size=16
)


@pytest.fixture(scope="module")
def table_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Head (34 sectors) of a small GPT and of an MBR-with-logicals disk, to mutate."""
    work = tmp_path_factory.mktemp("tables")
    gpt = raw_disk(
        work / "g.raw",
        4 * MiB,
        "label: gpt\nstart=2048, size=2048, type=linux\nstart=4096, size=2048, type=swap\n",
    )
    dos = raw_disk(
        work / "d.raw",
        4 * MiB,
        "label: dos\nstart=2048, size=1024, type=83\nstart=3072, size=4096, type=5\n"
        "start=4096, size=1024, type=83\nstart=6144, size=1024, type=82\n",
    )
    return {
        "gpt": gpt.read_bytes(),
        "dos": dos.read_bytes(),
    }


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(which=st.sampled_from(["gpt", "dos"]), mutations=_TABLE_BYTES, tail=st.booleans())
def test_mutated_tables_raise_only_project_errors(
    tmp_path: Path,
    table_images: dict[str, bytes],
    which: str,
    mutations: list[tuple[int, int]],
    tail: bool,
) -> None:
    data = bytearray(table_images[which])
    for at, value in mutations:
        where = len(data) - 34 * SECTOR + at if tail else at
        data[where] = value
    # keep the header CRC right half the time, so the lying-field checks are reached
    if which == "gpt" and not tail and mutations[0][1] % 2:
        header = bytearray(data[SECTOR : SECTOR + 92])
        header[16:20] = bytes(4)
        data[SECTOR + 16 : SECTOR + 20] = struct.pack("<I", binascii.crc32(bytes(header)))
    path = tmp_path / f"m-{which}.raw"
    path.write_bytes(bytes(data))
    try:
        inspection = inspect_image(path)
    except ImageError:
        return
    assert inspection.partition_table is not None


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=3000), st.sampled_from([0, 512, 4096, 70000]))
def test_inspect_never_raises_anything_else_on_any_bytes(
    tmp_path: Path, data: bytes, pad: int
) -> None:
    for candidate in (data, bytes(pad) + data, data + bytes(pad)):
        path = tmp_path / "any.bin"
        path.write_bytes(candidate)
        with contextlib.suppress(ImageError):
            inspect_image(path)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(which=st.sampled_from(["gpt", "dos"]), mutations=_TABLE_BYTES, fix_crc=st.booleans())
def test_parser_raises_only_image_format_error(
    table_images: dict[str, bytes], which: str, mutations: list[tuple[int, int]], fix_crc: bool
) -> None:
    """The parser itself (no file I/O): bad table bytes give ImageFormatError or a table."""
    from images.partitions import read_partition_table

    data = bytearray(table_images[which])
    for at, value in mutations:
        data[at] = value
    if fix_crc:
        header = bytearray(data[SECTOR : SECTOR + 92])
        header[16:20] = bytes(4)
        data[SECTOR + 16 : SECTOR + 20] = struct.pack("<I", binascii.crc32(bytes(header)))
    disk = bytes(data)
    try:
        table = read_partition_table(lambda o, n: disk[o : o + n], len(disk), "fuzz")
    except ImageFormatError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    assert table.kind in ("mbr", "gpt", "none")
    for p in table.partitions:
        assert p.size_sectors > 0 and p.index >= 1
