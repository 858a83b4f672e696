"""The offline image and disk checks: one image passing all, one image per failing rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.fact import Facts
from checks.facts.image import FACT as IMAGE
from checks.model import Result, Status
from checks.registry import CHECKS, load_builtin_checks
from harness.cli.inspect import run_offline_checks
from images.inspect import ImageInspection, inspect_image
from images.vhd import FOOTER_SIZE, DiskType, build_footer, parse_footer
from tests.test_images_builders import (
    GOOD_LAYOUT,
    GOOD_SIZE,
    LINUX_GUID,
    LVM_GUID,
    ROOT_START,
    SWAP_GUID,
    GiB,
    MiB,
    copy_sparse,
    fixed_vhd,
    good_raw,
    lvm_label,
    put_bytes,
    put_fs,
    raw_disk,
    run,
)

OFFLINE_IDS = {
    "vhd_format",
    "vhd_footer",
    "vhd_size_alignment",
    "vhd_file_length",
    "os_disk_size",
    "first_1mb_free",
    "partition_table_valid",
    "no_swap_on_os_disk",
    "single_root_partition",
    "no_lvm_os_disk",
}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("checks")


@pytest.fixture(scope="module")
def good(work: Path) -> Path:
    """30 GiB sparse fixed VHD: GPT, ESP (vfat) at sector 2048, one ext4 root."""
    return fixed_vhd(good_raw(work), work / "good.vhd")


def _results(path: Path, **params: dict[str, object]) -> dict[str, Result]:
    inspection = inspect_image(path)
    results = {r.check_id: r for r in run_offline_checks(inspection)}
    for check_id, overrides in params.items():
        results[check_id] = CHECKS.get(check_id).run(_image_facts(inspection), overrides)
    return results


def _image_facts(inspection: ImageInspection) -> Facts:
    return Facts().with_value(IMAGE, inspection, "offline")


def _only_failures(results: dict[str, Result]) -> set[str]:
    return {cid for cid, r in results.items() if r.status in (Status.FAIL, Status.ERROR)}


def test_good_image_passes_every_check(good: Path) -> None:
    results = _results(good)
    assert set(results) == OFFLINE_IDS
    assert {cid: r.status for cid, r in results.items()} == dict.fromkeys(OFFLINE_IDS, Status.PASS)
    assert results["vhd_file_length"].actual == f"{GOOD_SIZE + 512} bytes"
    assert results["single_root_partition"].actual == "Root Partition: 1"
    assert results["no_swap_on_os_disk"].actual == "No. of Swap Partitions: 0"
    assert results["os_disk_size"].actual == "30 GiB (32212254720 bytes)"


def test_checks_are_registered_with_areas_and_tags() -> None:
    load_builtin_checks()
    for cid in OFFLINE_IDS:
        found = CHECKS.get(cid)
        assert "offline" in found.tags
        assert found.area == (
            "disk"
            if cid in {"no_swap_on_os_disk", "single_root_partition", "no_lvm_os_disk"}
            else "image"
        )
    assert CHECKS.get("no_swap_on_os_disk").selftest_id == 41
    assert "online" in CHECKS.get("no_lvm_os_disk").tags


def test_disk_checks_tolerate_a_missing_image_fact() -> None:
    load_builtin_checks()
    for cid in ("no_swap_on_os_disk", "single_root_partition", "no_lvm_os_disk"):
        check = CHECKS.get(cid)
        assert check.evaluate(Facts(), check.params).status is Status.SKIPPED


@pytest.mark.parametrize(
    ("fmt", "options", "expected_f"),
    [
        ("raw", None, "raw"),
        ("qcow2", None, "qcow2"),
        ("vhdx", None, "vhdx"),
        ("vpc", "subformat=dynamic,force_size", "vpc"),
    ],
)
def test_vhd_format_fails_with_the_conversion_command(
    work: Path, fmt: str, options: str | None, expected_f: str
) -> None:
    src = work / "good.raw"
    if not src.exists():
        good_raw(work)
    path = src
    if fmt != "raw":
        path = work / f"conv.{fmt}"
        cmd = [
            "qemu-img",
            "convert",
            "-f",
            "raw",
            "-O",
            fmt,
            *(["-o", options] if options else []),
            str(src),
            str(path),
        ]
        run(*cmd)
    results = _results(path)
    fmt_result = results["vhd_format"]
    assert fmt_result.status is Status.FAIL
    assert (
        f"qemu-img convert -f {expected_f} -O vpc -o subformat=fixed,force_size {path} "
        in fmt_result.message
    )
    assert fmt_result.message.endswith(".vhd")
    assert _only_failures(results) == {"vhd_format"}


def test_vhd_footer_fails_on_bad_checksum(work: Path, good: Path) -> None:
    path = copy_sparse(good, work / "badsum.vhd")
    size = path.stat().st_size
    put_bytes(path, size - FOOTER_SIZE + 64, b"\x00\x00\x00\x01")
    results = _results(path)
    assert results["vhd_footer"].status is Status.FAIL
    assert "checksum 0x00000001 (computed 0x" in results["vhd_footer"].actual
    assert _only_failures(results) == {"vhd_footer"}


def test_vhd_size_alignment_fails_off_mib(work: Path) -> None:
    size = 30 * GiB + 512 * 3
    raw = raw_disk(work / "odd.raw", size, GOOD_LAYOUT)
    put_fs(raw, ROOT_START, "ext4", 256 * MiB, work)
    path = fixed_vhd(raw, work / "odd.vhd")
    results = _results(path)
    result = results["vhd_size_alignment"]
    assert result.status is Status.FAIL
    assert (
        "unsupported virtual size of 32212256256 bytes. The size must be a whole number (in MBs)"
        in result.message
    )
    assert "32213303296" in result.message  # the next whole MiB
    assert _only_failures(results) == {"vhd_size_alignment"}


def test_vhd_file_length_fails_with_padding(work: Path) -> None:
    raw = work / "good.raw"
    if not raw.exists():
        good_raw(work)
    padded = copy_sparse(raw, work / "padded.raw")
    with open(padded, "r+b") as handle:
        handle.truncate(GOOD_SIZE + 4096)  # 4 KiB of extra disk bytes before the footer
    path = fixed_vhd(padded, work / "padded.vhd", current_size=GOOD_SIZE)
    results = _results(path)
    result = results["vhd_file_length"]
    assert result.status is Status.FAIL
    assert result.actual == f"{GOOD_SIZE + 4096 + 512} bytes"
    assert result.required == f"{GOOD_SIZE + 512} bytes (virtual size {GOOD_SIZE} + 512)"
    assert "4096 bytes too long" in result.message
    assert _only_failures(results) == {"vhd_file_length"}


@pytest.mark.parametrize(
    ("size", "status", "needle"),
    [
        (16 * MiB, Status.FAIL, "at least 20 MiB"),
        (1024 * GiB, Status.FAIL, "maximum VHD size is 1023 GB"),
        (10 * GiB, Status.WARNING, "outside the recommended 30–1023 GB for linux"),
    ],
)
def test_os_disk_size_limits(work: Path, size: int, status: Status, needle: str) -> None:
    layout = "label: gpt\nstart=2048, type=linux\n"
    raw = raw_disk(work / f"size-{size}.raw", size, layout)
    put_fs(raw, 2048, "ext4", 8 * MiB, work)
    path = fixed_vhd(raw, work / f"size-{size}.vhd")
    results = _results(path)
    assert results["os_disk_size"].status is status
    assert needle in results["os_disk_size"].message
    expected = {"os_disk_size"} if status is Status.FAIL else set()
    assert _only_failures(results) == expected


def test_os_disk_size_windows_range_is_a_parameter(good: Path) -> None:
    inspection = inspect_image(good, extents=False)
    check = CHECKS.get("os_disk_size")
    assert check.run(_image_facts(inspection), {"os_family": "windows"}).status is Status.PASS
    big = check.run(_image_facts(inspection), {"os_family": "windows", "windows_max_gb": 20})
    assert big.status is Status.WARNING and "recommended 30–20 GB (windows)" in big.required


def test_first_1mb_free_fails_for_early_partition(work: Path) -> None:
    layout = f"label: gpt\nfirst-lba: 34\nstart=40, size={256 * MiB // 512}, type={LINUX_GUID}\n"
    raw = raw_disk(work / "early.raw", 30 * GiB, layout)
    put_fs(raw, 40, "ext4", 256 * MiB, work)
    results = _results(fixed_vhd(raw, work / "early.vhd"))
    assert results["first_1mb_free"].status is Status.FAIL
    assert results["first_1mb_free"].actual == "first partition starts at sector 40"
    assert _only_failures(results) == {"first_1mb_free"}


def test_partition_table_valid_fails_on_crc_error(work: Path, good: Path) -> None:
    path = copy_sparse(good, work / "crc.vhd")
    put_bytes(path, 2 * 512 + 56, b"X")  # entry 1's name: the entry-array CRC no longer matches
    results = _results(path)
    assert results["partition_table_valid"].status is Status.FAIL
    assert "entry array CRC32 mismatch" in results["partition_table_valid"].message
    assert _only_failures(results) == {"partition_table_valid"}


def test_partition_table_valid_fails_past_the_end(work: Path) -> None:
    raw = raw_disk(work / "pte.raw", 40 * GiB, "label: dos\nstart=2048, type=83\n")
    put_fs(raw, 2048, "ext4", 8 * MiB, work)
    with open(raw, "r+b") as handle:
        handle.truncate(30 * GiB)
    results = _results(fixed_vhd(raw, work / "pte.vhd"))
    assert results["partition_table_valid"].status is Status.FAIL
    assert "past the end of the disk" in results["partition_table_valid"].message
    assert _only_failures(results) == {"partition_table_valid"}


@pytest.mark.parametrize("how", ["type", "signature"])
def test_no_swap_on_os_disk_by_type_or_signature(work: Path, how: str) -> None:
    swap_type = SWAP_GUID if how == "type" else LINUX_GUID
    layout = GOOD_LAYOUT + f"start={ROOT_START + 256 * MiB // 512}, size=16384, type={swap_type}\n"
    raw = raw_disk(work / f"swap-{how}.raw", 30 * GiB, layout)
    put_fs(raw, ROOT_START, "ext4", 256 * MiB, work)
    if how == "signature":
        put_fs(raw, ROOT_START + 256 * MiB // 512, "swap", 8 * MiB, work)
    results = _results(fixed_vhd(raw, work / f"swap-{how}.vhd"))
    result = results["no_swap_on_os_disk"]
    assert result.status is Status.FAIL
    assert result.actual == "Swap space configured on the OS disk."
    assert "partition 3" in result.message
    assert _only_failures(results) == {"no_swap_on_os_disk"}


def test_single_root_partition_warns_on_two_roots(work: Path) -> None:
    second = ROOT_START + 256 * MiB // 512
    layout = GOOD_LAYOUT + f"start={second}, size={256 * MiB // 512}, type={LINUX_GUID}\n"
    raw = raw_disk(work / "tworoots.raw", 30 * GiB, layout)
    put_fs(raw, ROOT_START, "ext4", 256 * MiB, work)
    put_fs(raw, second, "btrfs", 256 * MiB, work)
    results = _results(fixed_vhd(raw, work / "tworoots.vhd"))
    assert results["single_root_partition"].status is Status.WARNING
    assert results["single_root_partition"].actual == "Root Partition: 2"
    assert _only_failures(results) == set()


@pytest.mark.parametrize("how", ["type", "label"])
def test_no_lvm_os_disk_warns(work: Path, how: str) -> None:
    pv_type = LVM_GUID if how == "type" else LINUX_GUID
    start = ROOT_START + 256 * MiB // 512
    layout = GOOD_LAYOUT + f"start={start}, size=16384, type={pv_type}\n"
    raw = raw_disk(work / f"lvm-{how}.raw", 30 * GiB, layout)
    put_fs(raw, ROOT_START, "ext4", 256 * MiB, work)
    if how == "label":
        put_bytes(raw, start * 512 + 512, lvm_label())
    results = _results(fixed_vhd(raw, work / f"lvm-{how}.vhd"))
    assert results["no_lvm_os_disk"].status is Status.WARNING
    assert results["no_lvm_os_disk"].actual == "LVM: partition 3"
    assert _only_failures(results) == set()


def test_our_footer_and_qemu_fixed_vhd_give_the_same_verdicts(work: Path, good: Path) -> None:
    qemu = work / "qemu-good.vhd"
    run(
        "qemu-img",
        "convert",
        "-f",
        "raw",
        "-O",
        "vpc",
        "-o",
        "subformat=fixed,force_size",
        "-S",
        "4k",
        work / "good.raw",
        qemu,
    )
    ours = {cid: r.status for cid, r in _results(good).items()}
    theirs = {cid: r.status for cid, r in _results(qemu).items()}
    assert ours == theirs
    with open(qemu, "rb") as handle:
        handle.seek(-FOOTER_SIZE, 2)
        assert parse_footer(handle.read()).disk_type == DiskType.FIXED
    assert build_footer(GOOD_SIZE)[:8] == b"conectix"


def test_vhd_format_command_resizes_off_mib_images_through_raw(work: Path) -> None:
    dyn = work / "chs.vhd"
    raw = raw_disk(work / "chs.raw", 64 * MiB)
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", raw, dyn)
    result = _results(dyn)["vhd_format"]  # qemu rounded the size up to a CHS geometry
    assert result.status is Status.FAIL
    resized = work / "chs-resized.raw"
    assert f"qemu-img convert -f vpc -O raw {dyn} {resized} && " in result.message
    assert f"qemu-img resize -f raw {resized} {65 * MiB} && " in result.message
    assert result.message.endswith(f"{resized} {work / 'chs-fixed.vhd'}")
