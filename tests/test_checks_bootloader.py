"""``grub_no_ata_params`` judges the boot loader that boots the image (issue 12: "the boot loader
actually used"): the one whose entry gave the running command line. Recorded outputs: the good
test image (extlinux, Debian 12) and RHEL 9 (GRUB with BLS entries and grubenv), each with a
stale file of the other loader added, and the defective/violating cases.
"""

from __future__ import annotations

from pathlib import Path

from checks.model import Status
from tests.test_checks_units import run

P, F = Status.PASS, Status.FAIL
FIXTURES = Path(__file__).parent / "fixtures" / "probe_outputs"
ATA = "libata.atapi_enabled=0 reserve=0x1f0,0x8"


def _facts(distro: str, extra: str = "", cmdline_extra: str = "") -> dict[str, str]:
    config = (FIXTURES / distro / "bootloader_config.txt").read_text() + extra
    cmdline = (FIXTURES / distro / "cmdline.txt").read_text().strip() + cmdline_extra + "\n"
    return {"bootloader_config": config, "cmdline": cmdline}


STALE_GRUB = (
    "### /boot/grub/grub.cfg\n"
    f"\tlinux\t/boot/vmlinuz-6.1.0-56-cloud-amd64 root=/dev/sda1 ro quiet {ATA}\n"
    f'### /etc/default/grub\nGRUB_CMDLINE_LINUX_DEFAULT="quiet {ATA}"\n'
)
STALE_EXTLINUX = f"### /boot/extlinux/extlinux.conf\n  APPEND root=/dev/sda1 ro {ATA}\n"


def test_recorded_outputs_pass() -> None:
    for distro in ("debian12", "rhel9"):
        assert run("grub_no_ata_params", _facts(distro)).status is P


def test_a_stale_grub_on_an_extlinux_image_does_not_boot() -> None:
    result = run("grub_no_ata_params", _facts("debian12", STALE_GRUB))
    assert result.status is P
    assert result.message.startswith("absent from extlinux, which boots the image; not used:")
    assert "/boot/grub/grub.cfg" in result.message


def test_a_stale_extlinux_on_a_grub_image_does_not_boot() -> None:
    result = run("grub_no_ata_params", _facts("rhel9", STALE_EXTLINUX))
    assert result.status is P and "absent from GRUB" in result.message


def test_the_loader_in_use_fails_for_its_files_and_the_running_line() -> None:
    # GRUB boots RHEL 9: its generator input counts (the next grub2-mkconfig applies it)
    grub_input = f'### /etc/default/grub\nGRUB_CMDLINE_LINUX="{ATA}"\n'
    assert run("grub_no_ata_params", _facts("rhel9", grub_input)).status is F
    # extlinux boots Debian: its entry and the running command line both carry the parameters
    facts = _facts("debian12", cmdline_extra=f" {ATA}")
    facts["bootloader_config"] = facts["bootloader_config"].replace(
        "net.ifnames=0\n", f"net.ifnames=0 {ATA}\n"
    )
    assert run("grub_no_ata_params", facts).status is F


def test_no_clear_answer_counts_every_loader() -> None:
    # the extlinux entry was edited after boot: no entry gave the running line, so the stale
    # GRUB file is not discounted
    facts = _facts("debian12", STALE_GRUB)
    config = facts["bootloader_config"]
    facts["bootloader_config"] = config.replace("net.ifnames=0\n", "net.ifnames=0 quiet\n", 1)
    assert run("grub_no_ata_params", facts).status is F
    # entries of both loaders give the running line: both count
    both = STALE_GRUB + (
        "### /boot/grub/grub.cfg\n\tlinux /boot/vmlinuz root=UUID=78b49e1e-a081-4596-94fb-"
        "e17cbcf1c063 ro\n"
    )
    assert run("grub_no_ata_params", _facts("debian12", both)).status is F
