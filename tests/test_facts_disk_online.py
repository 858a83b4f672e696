"""The online disk facts parse what their probes print: block_devices (lsblk -P rows) and swap;
a truncated lsblk row is a parse error that the checks report as an ERROR naming the fact."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.fact import Facts
from checks.facts import block_devices, swap
from checks.model import Status
from checks.plan import CheckPlan
from checks.registry import CHECKS, load_builtin_checks

RECORDED = Path(__file__).parent / "fixtures" / "probe_outputs"


def recorded(distro: str, fact: str) -> str:
    return (RECORDED / distro / f"{fact}.txt").read_text()


def test_block_devices_header_and_rows() -> None:
    value = block_devices.parse(recorded("rhel9", "block_devices"))
    assert (value.root_source, value.root_fstype, value.os_disk) == (
        "/dev/mapper/rootvg-rootlv",
        "xfs",
        "sda",
    )
    assert len(value.devices) == 10
    assert value.devices[0] == block_devices.BlockDevice("/dev/sda", "disk", "", "", "")
    assert value.devices[4] == block_devices.BlockDevice(
        "/dev/sda4", "part", "LVM2_member", "", "e6d6d379-f507-44c2-a23c-238f2a3df928"
    )
    assert [d.mountpoint for d in value.devices if d.type == "lvm"][-1] == "/"


def test_block_devices_without_an_os_disk_has_no_rows() -> None:
    text = "root_source=\nroot_fstype=\nos_disk=\n### lsblk\n"
    assert block_devices.parse(text) == block_devices.BlockDevices("", "", "", ())
    assert block_devices.parse("") == block_devices.BlockDevices("", "", "", ())


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ('NAME="/dev/vda1" TYPE="part" FSTYPE="ext4" MOUNTPOINT="/" PARTTYPE="0x', "No closing"),
        ('NAME="/dev/vda1" TYPE="part" FSTYPE="ext4"', "has no MOUNTPOINT, PARTTYPE"),
    ],
)
def test_a_truncated_lsblk_row_is_a_parse_error(row: str, why: str) -> None:
    text = f"root_source=/dev/vda1\nroot_fstype=ext4\nos_disk=vda\n### lsblk\n{row}\n"
    with pytest.raises(ValueError, match=why):
        block_devices.parse(text)


def test_a_parse_error_of_the_online_disk_fact_is_an_error_result() -> None:
    cut = recorded("debian12", "block_devices")[:-30]
    facts = Facts.from_texts({"block_devices": cut, "swap": recorded("debian12", "swap")})
    assert "block_devices" not in facts and "cannot parse" in facts.errors["block_devices"]
    load_builtin_checks()
    (result,) = CheckPlan([CHECKS.get("no_swap_on_os_disk")]).evaluate(facts)
    assert result.status is Status.ERROR and "fact block_devices: cannot parse" in result.message


def test_swap_active_areas_and_fstab_entries() -> None:
    text = (
        "### active\n/dev/sda3 partition 2097148 -\n/mnt/resource/swapfile file 2097148 /dev/sdb1\n"
        "### fstab\nPARTUUID=0b1c none swap defaults\n"
    )
    value = swap.parse(text)
    assert value.active == (
        swap.ActiveSwap("/dev/sda3", "partition", "2097148", "-"),
        swap.ActiveSwap("/mnt/resource/swapfile", "file", "2097148", "/dev/sdb1"),
    )
    assert value.fstab == ("PARTUUID=0b1c none swap defaults",)
    assert swap.parse(recorded("debian12", "swap")) == swap.Swap()
    # short rows are ignored, words after the fourth dropped, blank fstab lines skipped
    odd = swap.parse(
        "### active\n/dev/x partition\n/f file 1 - extra\n### fstab\n \n a b swap c \n"
    )
    assert odd.active == (swap.ActiveSwap("/f", "file", "1", "-"),)
    assert odd.fstab == ("a b swap c",)
    assert swap.parse("") == swap.Swap()
