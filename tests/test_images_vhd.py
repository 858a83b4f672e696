"""VHD footer parsing/serialising and format detection from the bytes."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from images.errors import ImageError, ImageFormatError
from images.inspect import inspect_image
from images.vhd import (
    COOKIE,
    FOOTER_SIZE,
    DiskType,
    ImageFormat,
    build_footer,
    footer_checksum,
    parse_footer,
    probe_format,
)
from tests.test_images_builders import (
    SMALL_DOS,
    SMALL_GPT,
    MiB,
    put_bytes,
    put_fs,
    raw_disk,
    run,
)


def _probe(path: Path) -> ImageFormat:
    data = path.read_bytes()
    return probe_format(lambda o, n: data[o : o + n], len(data), str(path)).format


def test_footer_round_trip_and_fields() -> None:
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    raw = build_footer(30 * 1024 * MiB, timestamp=86400, unique_id=uid)
    footer = parse_footer(raw)
    assert footer.cookie == COOKIE and footer.cookie_ok
    assert footer.checksum_ok and footer.checksum == footer_checksum(raw)
    assert footer.disk_type == DiskType.FIXED and footer.disk_type_name == "fixed"
    assert footer.current_size == footer.original_size == 30 * 1024 * MiB
    assert footer.data_offset == 0xFFFFFFFFFFFFFFFF
    assert footer.version_text == "1.0"
    assert footer.unique_id == uid
    assert footer.created.isoformat() == "2000-01-02T00:00:00+00:00"
    assert footer.to_bytes() == raw
    assert footer.to_dict()["checksum_ok"] is True


def test_checksum_mismatch_is_reported_not_raised() -> None:
    raw = bytearray(build_footer(64 * MiB))
    raw[48] ^= 0x01  # change the current size without fixing the checksum
    footer = parse_footer(bytes(raw))
    assert not footer.checksum_ok
    assert footer.to_bytes(fix_checksum=True) != bytes(raw)
    assert parse_footer(footer.to_bytes(fix_checksum=True)).checksum_ok


def test_parse_footer_rejects_wrong_cookie_and_length() -> None:
    with pytest.raises(ImageFormatError, match="cookie"):
        parse_footer(b"notavhd!" + bytes(504))
    with pytest.raises(ImageFormatError, match="truncated"):
        parse_footer(build_footer(MiB)[:300])


def test_detects_every_format_from_bytes_not_name(tmp_path: Path) -> None:
    raw = raw_disk(tmp_path / "disk.img", 64 * MiB, SMALL_DOS)
    made = {
        ImageFormat.VHD_FIXED: ("vpc", "subformat=fixed,force_size"),
        ImageFormat.VHD_DYNAMIC: ("vpc", "subformat=dynamic"),
        ImageFormat.VHDX: ("vhdx", None),
        ImageFormat.QCOW2: ("qcow2", None),
    }
    for expected, (fmt, options) in made.items():
        lying_name = tmp_path / f"{fmt}-{expected}.raw"  # the name says raw, the bytes do not
        cmd = ["qemu-img", "convert", "-f", "raw", "-O", fmt]
        if options:
            cmd += ["-o", options]
        run(*cmd, raw, lying_name)
        assert _probe(lying_name) is expected, expected
    renamed = tmp_path / "really-raw.vhd"
    os.rename(raw, renamed)
    assert _probe(renamed) is ImageFormat.RAW
    qcow = inspect_image(tmp_path / "qcow2-qcow2.raw")
    assert qcow.virtual_size == 64 * MiB and qcow.partition_table is not None
    vhdx = inspect_image(tmp_path / "vhdx-vhdx.raw")
    assert vhdx.virtual_size == 64 * MiB


def test_differencing_vhd_is_detected(tmp_path: Path) -> None:
    base = tmp_path / "base.vhd"
    run("qemu-img", "create", "-f", "vpc", base, "64M")
    child = tmp_path / "child.vhd"
    # qemu-img cannot create vpc differencing disks: build one by patching the type to 4
    data = bytearray(base.read_bytes())
    footer = parse_footer(bytes(data[-FOOTER_SIZE:]))
    patched = footer.__class__(**{**footer.__dict__, "disk_type": DiskType.DIFFERENCING})
    data[-FOOTER_SIZE:] = patched.to_bytes(fix_checksum=True)
    child.write_bytes(bytes(data))
    inspection = inspect_image(child)
    assert inspection.format is ImageFormat.VHD_DIFFERENCING
    assert inspection.partition_table is None and "parent" in inspection.partition_note


def test_dynamic_vhd_partitions_are_read_through_the_bat(tmp_path: Path) -> None:
    raw = raw_disk(tmp_path / "d.raw", 64 * MiB, SMALL_GPT)
    dyn = tmp_path / "d.vhd"
    run(
        "qemu-img",
        "convert",
        "-f",
        "raw",
        "-O",
        "vpc",
        "-o",
        "subformat=dynamic,force_size",
        raw,
        dyn,
    )
    inspection = inspect_image(dyn)
    assert inspection.format is ImageFormat.VHD_DYNAMIC
    assert inspection.partition_table is not None
    assert [p.name for p in inspection.partition_table.partitions] == ["esp", "root"]


def test_truncated_and_padded_footers_are_format_errors(tmp_path: Path) -> None:
    raw = raw_disk(tmp_path / "t.raw", 4 * MiB)
    vhd = tmp_path / "t.vhd"
    data = raw.read_bytes() + build_footer(4 * MiB)
    vhd.write_bytes(data[:-100])
    with pytest.raises(ImageFormatError, match=r"truncated: .*412 of 512"):
        inspect_image(vhd)
    vhd.write_bytes(data + bytes(1))
    with pytest.raises(ImageFormatError, match="1 stray bytes after the VHD footer"):
        inspect_image(vhd)
    tiny = tmp_path / "tiny.vhd"
    tiny.write_bytes(COOKIE + bytes(10))
    with pytest.raises(ImageFormatError, match="truncated"):
        inspect_image(tiny)


def test_bad_disk_type_and_unknown_formats(tmp_path: Path) -> None:
    path = tmp_path / "x.vhd"
    path.write_bytes(bytes(MiB) + build_footer(MiB, disk_type=6))
    with pytest.raises(ImageFormatError, match="disk type 6"):
        inspect_image(path)
    vmdk = tmp_path / "x.vmdk"
    run("qemu-img", "create", "-f", "vmdk", vmdk, "16M")
    with pytest.raises(ImageFormatError, match=r"not a disk image \(looks like vmdk\)"):
        inspect_image(vmdk)
    zeros = tmp_path / "zeros.img"
    zeros.write_bytes(bytes(2 * MiB))
    with pytest.raises(ImageFormatError, match="all zeros"):
        inspect_image(zeros)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, FOOTER_SIZE - 1), st.integers(0, 255)), min_size=1, max_size=12
    )
)
def test_mutated_footers_raise_only_image_format_error(mutations: list[tuple[int, int]]) -> None:
    """Any mutation of a valid footer parses or raises ImageFormatError, nothing else."""
    raw = bytearray(build_footer(8 * MiB, disk_type=DiskType.DYNAMIC))
    for at, value in mutations:
        raw[at] = value
    try:
        footer = parse_footer(bytes(raw))
    except ImageFormatError:
        return
    assert footer.to_bytes() == bytes(raw)[:85] + bytes(427)  # round-trips (reserved zeroed)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([MiB, 3 * MiB + 512]),
    disk_type=st.sampled_from([2, 3, 4, 0, 9]),
    mutations=st.lists(
        st.tuples(st.integers(0, FOOTER_SIZE - 1), st.integers(0, 255)), max_size=10
    ),
    cut=st.integers(0, 700),
)
def test_inspect_on_mutated_vhd_files_raises_only_project_errors(
    tmp_path_factory: pytest.TempPathFactory,
    size: int,
    disk_type: int,
    mutations: list[tuple[int, int]],
    cut: int,
) -> None:
    footer = bytearray(build_footer(size, disk_type=disk_type, data_offset=512))
    for at, value in mutations:
        footer[at] = value
    data = bytes(footer) + bytes(size) + bytes(footer)  # dynamic-style copy at 0 and at the end
    path = tmp_path_factory.mktemp("fz") / "f.vhd"
    path.write_bytes(data[: len(data) - cut])
    with contextlib.suppress(ImageError):
        inspect_image(path)
    put_bytes(path, 0, b"\0" * 8)
    with contextlib.suppress(ImageError):
        inspect_image(path)


def test_qcow2_partitions_are_read_through_l1_l2(tmp_path: Path) -> None:
    raw = raw_disk(tmp_path / "q.raw", 64 * MiB, SMALL_GPT)
    put_fs(raw, 10240, "ext4", 32 * MiB, tmp_path)
    qcow = tmp_path / "q.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow)
    expected = inspect_image(raw).partition_table
    got = inspect_image(qcow)
    assert got.format is ImageFormat.QCOW2 and got.partition_table == expected
    assert got.partition_table is not None
    assert got.partition_table.partitions[1].filesystem == "ext4"
    packed = tmp_path / "c.qcow2"
    run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, packed)
    compressed = inspect_image(packed)
    assert compressed.partition_table is None and "compressed" in compressed.partition_note
    child = tmp_path / "child.qcow2"
    run("qemu-img", "create", "-f", "qcow2", "-b", qcow, "-F", "qcow2", child)
    backed = inspect_image(child)
    assert backed.partition_table is not None and "backing file" in backed.partition_note


@pytest.fixture(scope="module")
def qcow2_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    work = tmp_path_factory.mktemp("qc")
    raw = raw_disk(work / "r.raw", 8 * MiB, "label: gpt\nstart=2048, type=linux\n")
    qcow = work / "r.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow)
    return qcow.read_bytes()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.integers(4, 111), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_qcow2_headers_raise_only_project_errors(
    tmp_path: Path, qcow2_bytes: bytes, mutations: list[tuple[int, int]]
) -> None:
    data = bytearray(qcow2_bytes)
    for at, value in mutations:
        data[at] = value
    qcow = tmp_path / "m.qcow2"
    qcow.write_bytes(bytes(data))
    with contextlib.suppress(ImageError):
        inspect_image(qcow)


@pytest.fixture(scope="module")
def dynamic_vhd_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    work = tmp_path_factory.mktemp("dyn")
    raw = raw_disk(work / "r.raw", 8 * MiB, "label: gpt\nstart=2048, type=linux\n")
    dyn = work / "r.vhd"
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", raw, dyn)
    return dyn.read_bytes()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.integers(512, 2048 + 511), st.integers(0, 255)), max_size=8))
def test_mutated_dynamic_vhd_headers_and_bat_raise_only_project_errors(
    tmp_path: Path, dynamic_vhd_bytes: bytes, mutations: list[tuple[int, int]]
) -> None:
    data = bytearray(dynamic_vhd_bytes)
    for at, value in mutations:  # the dynamic header (512..1535) and the start of the BAT
        data[at] = value
    path = tmp_path / "m.vhd"
    path.write_bytes(bytes(data))
    try:
        inspection = inspect_image(path)
    except ImageError:
        return
    assert inspection.format is ImageFormat.VHD_DYNAMIC


@pytest.mark.parametrize("options", ["subformat=dynamic", "subformat=fixed", "block_size=1M"])
def test_vhdx_partitions_are_read_through_the_bat(tmp_path: Path, options: str) -> None:
    raw = raw_disk(tmp_path / "x.raw", 64 * MiB, SMALL_GPT)
    put_fs(raw, 10240, "ext4", 32 * MiB, tmp_path)
    vhdx = tmp_path / "x.vhdx"
    run("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", options, raw, vhdx)
    got = inspect_image(vhdx)
    assert got.format is ImageFormat.VHDX and got.virtual_size == 64 * MiB
    assert got.partition_table == inspect_image(raw).partition_table
    assert got.partition_table is not None
    assert got.partition_table.partitions[1].filesystem == "ext4"


@pytest.fixture(scope="module")
def vhdx_bytes(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[int]]:
    """A small VHDX and the offsets of its structures (headers, region table, BAT, metadata)."""
    from images.vhd import vhdx_layout

    work = tmp_path_factory.mktemp("vhdx")
    raw = raw_disk(work / "r.raw", 8 * MiB, "label: gpt\nstart=2048, type=linux\n")
    vhdx = work / "r.vhdx"
    run("qemu-img", "convert", "-f", "raw", "-O", "vhdx", raw, vhdx)
    data = vhdx.read_bytes()
    layout = vhdx_layout(lambda o, n: data[o : o + n])
    assert layout.bat_offset is not None
    meta = data.find(b"metadata", 192 * 1024)
    return data, [64 * 1024, 128 * 1024, 192 * 1024, layout.bat_offset, meta]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 255), st.integers(0, 255)), max_size=8))
def test_mutated_vhdx_structures_raise_only_project_errors(
    tmp_path: Path, vhdx_bytes: tuple[bytes, list[int]], mutations: list[tuple[int, int, int]]
) -> None:
    original, spots = vhdx_bytes
    data = bytearray(original)
    for spot, delta, value in mutations:
        data[spots[spot] + delta] = value
    path = tmp_path / "m.vhdx"
    path.write_bytes(bytes(data))
    with contextlib.suppress(ImageError):
        inspect_image(path)
