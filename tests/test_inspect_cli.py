"""``vmcert inspect`` end to end, through a subprocess: exit codes, JSON, the error contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from images.vhd import build_footer
from tests.test_images_builders import (
    SMALL_GPT,
    MiB,
    copy_sparse,
    fixed_vhd,
    good_raw,
    put_bytes,
    raw_disk,
)


def vmcert(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def good(work: Path) -> Path:
    return fixed_vhd(good_raw(work), work / "good.vhd")


def test_good_image_exits_0_with_facts_and_table(good: Path) -> None:
    proc = vmcert("inspect", good)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for needle in ("vhd-fixed", "30 GiB (32212254720 bytes)", "GPT, 2 partition(s)", "ext4"):
        assert needle in out
    assert "vhd_format" in out and "partition_table_valid" in out
    assert "PASS: nothing failed" in out and "FAIL" not in out


def test_json_document(good: Path) -> None:
    proc = vmcert("inspect", "--json", good)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema_version"] == 2
    assert doc["exit_code"] == 0 and doc["summary"]["verdict"] == "pass"
    image = doc["image"]
    assert image["format"] == "vhd-fixed"
    assert image["virtual_size"] == 30 * 1024 * MiB
    assert image["file_length"] == 30 * 1024 * MiB + 512
    assert 0 < image["data_bytes"] < 64 * MiB
    assert image["footer"]["cookie"] == "conectix" and image["footer"]["checksum_ok"]
    parts = image["partition_table"]["partitions"]
    assert [(p["index"], p["start_lba"], p["filesystem"]) for p in parts] == [
        (1, 2048, "vfat"),
        (2, 206848, "ext4"),
    ]
    statuses = {r["id"]: r["status"] for r in doc["results"]}
    assert len(statuses) == 10 and set(statuses.values()) == {"pass"}


def test_failing_check_exits_1(work: Path) -> None:
    raw = work / "good.raw"
    proc = vmcert("inspect", "--json", raw)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    failed = [r for r in doc["results"] if r["status"] == "fail"]
    assert [r["id"] for r in failed] == ["vhd_format"]
    assert "qemu-img convert -f raw -O vpc -o subformat=fixed,force_size" in failed[0]["message"]
    human = vmcert("inspect", raw)
    assert human.returncode == 1 and "FAIL: vhd_format" in human.stdout


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], path: Path, needle: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"vmcert: error: {path}"), lines[0]
    assert needle in lines[0]
    assert proc.stdout == ""


@pytest.fixture(scope="module")
def bad_inputs(work: Path, good: Path) -> dict[str, tuple[Path, str]]:
    cases: dict[str, tuple[Path, str]] = {}
    cases["missing"] = (work / "nope.vhd", "no such file")
    folder = work / "adir.vhd"
    folder.mkdir()
    cases["directory"] = (folder, "is a directory")
    empty = work / "empty.vhd"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "empty file")
    truncated = work / "truncated.vhd"
    data = raw_disk(work / "t.raw", 64 * MiB, SMALL_GPT).read_bytes() + build_footer(64 * MiB)
    truncated.write_bytes(data[:-200])
    cases["truncated footer"] = (truncated, "VHD footer truncated")
    garbage = work / "garbage.vhd"
    garbage.write_bytes(bytes(range(256)) * 4096)
    cases["garbage"] = (garbage, "not a disk image")
    lying = copy_sparse(good, work / "lying.vhd")
    put_bytes(lying, 512 + 80, (10**8).to_bytes(4, "little"))  # 100 million GPT entries
    cases["lying table"] = (lying, "partition table lies")
    return cases


@pytest.mark.parametrize(
    "case", ["missing", "directory", "empty", "truncated footer", "garbage", "lying table"]
)
@pytest.mark.parametrize("as_json", [False, True])
def test_bad_input_one_line_exit_2(
    bad_inputs: dict[str, tuple[Path, str]], case: str, as_json: bool
) -> None:
    path, needle = bad_inputs[case]
    args = ["inspect", *(["--json"] if as_json else []), path]
    _assert_one_line_error(vmcert(*args), path, needle)


@pytest.fixture()
def unreadable(good: Path) -> Iterator[Path]:
    """A mode-000 copy of the good image in a world-traversable directory."""
    folder = Path(tempfile.mkdtemp(prefix="vmcert-perm-"))
    folder.chmod(0o755)
    target = copy_sparse(good, folder / "secret.vhd")
    target.chmod(0)
    yield target
    target.chmod(0o600)
    target.unlink()
    folder.rmdir()


_DROP_AND_RUN = """
import os, sys
import harness.cli, harness.cli.inspect, harness.console, json, rich.table  # imported as root
if os.getuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
harness.cli.main(sys.argv[1:])
"""


def test_permission_denied_exit_2(unreadable: Path) -> None:
    # Tests run as root, which reads mode-000 files anyway: the child drops to nobody first.
    proc = subprocess.run(
        [sys.executable, "-c", _DROP_AND_RUN, "inspect", str(unreadable)],
        capture_output=True,
        text=True,
    )
    _assert_one_line_error(proc, unreadable, "permission denied")
    if os.getuid() == 0:  # and the same file is fine for root: the denial really was permissions
        assert vmcert("inspect", unreadable).returncode == 0
