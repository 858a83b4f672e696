"""The candidate: format, QEMU driver, generation, extents and digest of an image, data read once.

Disks are small real ones: sfdisk tables in sparse raw files, converted with qemu-img.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from images.bootdisk import disk_generation, generation_from_head, generation_of, qemu_driver
from images.candidate import Candidate, load_candidate
from images.errors import ImageFormatError, ImageInputError
from images.extents import data_extents, sparse_digest
from images.inspect import inspect_image
from images.partitions import GPT_ESP
from images.vhd import FOOTER_SIZE, DiskType, parse_footer
from tests.test_images_builders import ESP_GUID, LINUX_GUID, MiB, raw_disk, run

GPT_WITH_ESP = f"label: gpt\nsize=8MiB, type={ESP_GUID}\ntype={LINUX_GUID}\n"
GPT_PLAIN = f"label: gpt\ntype={LINUX_GUID}\n"
MBR = "label: dos\ntype=83, bootable\n"

# (qemu-img convert options, Candidate.format, Candidate.qemu_driver); None: the raw file itself
FORMATS: dict[str, tuple[list[str] | None, str, str]] = {
    "raw": (None, "raw", "raw"),
    "vhd-fixed": (["-O", "vpc", "-o", "subformat=fixed,force_size=on"], "vhd-fixed", "vpc"),
    "vhd-dynamic": (["-O", "vpc"], "vhd-dynamic", "vpc"),
    "vhdx": (["-O", "vhdx"], "vhdx", "vhdx"),
    "qcow2": (["-O", "qcow2"], "qcow2", "qcow2"),
    "qcow2-compressed": (["-c", "-O", "qcow2"], "qcow2", "qcow2"),
}


def _disk(tmp_path: Path, layout: str, name: str = "disk.raw") -> Path:
    """A 64 MiB disk with ``layout`` and 6 MiB of pseudo-random data in its last partition."""
    path = raw_disk(tmp_path / name, 64 * MiB, layout)
    with path.open("r+b") as handle:
        handle.seek(20 * MiB + 4096)  # off-chunk, off-grain: pieces must be joined right
        handle.write(os.urandom(6 * MiB))
    return path


def _convert(raw: Path, kind: str) -> Path:
    options = FORMATS[kind][0]
    if options is None:
        return raw
    out = raw.with_name(f"{raw.stem}-{kind}.img")
    run("qemu-img", "convert", *options, raw, out)
    return out


@pytest.mark.parametrize("kind", list(FORMATS))
def test_each_format_gives_driver_generation_and_the_same_facts(tmp_path: Path, kind: str) -> None:
    path = _convert(_disk(tmp_path, GPT_WITH_ESP), kind)
    seen: list[tuple[int, int]] = []
    candidate = load_candidate(path, on_progress=lambda done, total: seen.append((done, total)))
    assert isinstance(candidate, Candidate)
    assert (candidate.format, candidate.qemu_driver) == FORMATS[kind][1:]
    assert candidate.generation == 2
    assert candidate.virtual_size == 64 * MiB or kind == "vhd-dynamic"  # CHS rounds vpc up
    assert candidate.virtual_size >= 64 * MiB
    # the same facts as the separate functions that each read the file again
    assert candidate.sparse_digest == sparse_digest(path)
    assert candidate.extents == data_extents(path)
    assert candidate.inspection.to_dict() == inspect_image(path).to_dict()
    assert candidate.inspection.extents is candidate.extents
    assert candidate.file_length == path.stat().st_size
    assert candidate.boot_refusal is None
    candidate.require_bootable()
    # progress: starts at 0, never goes back, ends with everything scanned
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] >= candidate.extents.data_bytes
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    # the lenient path for a bare file agrees
    assert qemu_driver(path) == candidate.qemu_driver
    assert disk_generation(path) == 2
    summary = candidate.to_dict()
    assert summary["generation"] == 2 and summary["sparse_digest"] == candidate.sparse_digest
    assert summary["qemu_driver"] == candidate.qemu_driver and summary["path"] == str(path)


@pytest.mark.parametrize("layout", [MBR, GPT_PLAIN], ids=["mbr", "gpt-without-esp"])
@pytest.mark.parametrize("kind", ["raw", "vhd-fixed", "qcow2"])
def test_generation_1_without_an_efi_system_partition(
    tmp_path: Path, layout: str, kind: str
) -> None:
    path = _convert(_disk(tmp_path, layout), kind)
    assert load_candidate(path).generation == 1
    assert disk_generation(path) == 1


def test_generation_from_parsed_table_and_from_head_bytes(tmp_path: Path) -> None:
    raw = _disk(tmp_path, GPT_WITH_ESP)
    table = inspect_image(raw, extents=False).partition_table
    assert table is not None and any(p.type_id == GPT_ESP for p in table.partitions)
    assert generation_of(table) == 2 and generation_of(None) == 1
    head = raw.read_bytes()[: 34 * 512]
    assert generation_from_head(head, 64 * MiB) == 2
    assert generation_from_head(b"", None) == 1
    assert generation_from_head(bytes(4096), None) == 1


def _rchar() -> int:
    """Bytes this process has read through read(2)/pread(2)/preadv(2) so far (page cache or not)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_the_data_is_read_once(tmp_path: Path) -> None:
    path = raw_disk(tmp_path / "dense.raw", 48 * MiB, GPT_WITH_ESP)
    with path.open("r+b") as handle:  # 40 MiB of data, no holes to skip
        handle.seek(8 * MiB)
        handle.write(os.urandom(40 * MiB))
    data = 40 * MiB

    before = _rchar()
    inspect_image(path)
    sparse_digest(path)
    separate = _rchar() - before
    assert separate >= 2 * data  # the counter sees each pass: the old way reads the data twice

    before = _rchar()
    candidate = load_candidate(path)
    once = _rchar() - before
    assert candidate.extents.data_bytes >= data
    # every data byte once, plus headers, tables and file-system signatures (well under 4 MiB)
    assert data <= once < data + 4 * MiB, f"read {once} bytes for {data} bytes of data"


def test_errors_are_one_line_and_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.vhd"
    with pytest.raises(ImageInputError, match=f"^{missing}: no such file$"):
        load_candidate(missing)
    garbage = tmp_path / "garbage.img"
    garbage.write_bytes(b"\x01" * 4096)
    with pytest.raises(ImageFormatError, match=f"^{garbage}: not a disk image") as caught:
        load_candidate(garbage)
    assert "\n" not in str(caught.value)
    blank = tmp_path / "blank.raw"
    blank.write_bytes(bytes(65536))
    with pytest.raises(ImageFormatError, match="all zeros"):
        load_candidate(blank)
    # booting a bare path is lenient: a blank disk boots as raw (and fails at boot with a reason)
    assert qemu_driver(blank) == "raw" and disk_generation(blank) == 1
    vmdk = tmp_path / "disk.vhd"  # the name lies; the bytes decide
    vmdk.write_bytes(b"KDMV" + bytes(4092))
    with pytest.raises(ImageInputError, match=f"image {vmdk} looks like vmdk"):
        qemu_driver(vmdk)
    with pytest.raises(ImageInputError, match="is a directory"):
        load_candidate(tmp_path)


def test_differencing_vhd_loads_but_refuses_to_boot(tmp_path: Path) -> None:
    base = tmp_path / "base.vhd"
    run("qemu-img", "create", "-f", "vpc", base, "64M")
    data = bytearray(base.read_bytes())
    footer = parse_footer(bytes(data[-FOOTER_SIZE:]))
    patched = footer.__class__(**{**footer.__dict__, "disk_type": DiskType.DIFFERENCING})
    data[-FOOTER_SIZE:] = patched.to_bytes(fix_checksum=True)
    child = tmp_path / "child.vhd"
    child.write_bytes(bytes(data))
    candidate = load_candidate(child)
    assert candidate.format == "vhd-differencing" and candidate.qemu_driver == "vpc"
    assert candidate.boot_refusal and str(child) in candidate.boot_refusal
    with pytest.raises(ImageInputError, match="differencing VHD; boot its merged"):
        candidate.require_bootable()
    with pytest.raises(ImageInputError, match="differencing VHD"):
        qemu_driver(child)
