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


# A Debian 12 VM booted by systemd-boot with its ESP mounted, as documented (the gen2 test image's
# guest, recorded below, does not mount its ESP): `bootctl install` put the ESP's loader.conf
# (only commented lines) in place and kernel-install's 90-loaderentry.install (systemd 252)
# wrote the entry in the ESP mounted at /boot/efi: title/version/machine-id/sort-key/options/
# linux/initrd, of which the probe keeps the options and linux lines. systemd-boot adds initrd=
# (with backslashes) to the running line and sets LoaderInfo/LoaderEntrySelected (systemd's Boot
# Loader Interface).
MID = "7f0c5d3c9c1b4b5c8d3a2e1f0a9b8c7d"
SD_OPTIONS = (
    "root=UUID=78b49e1e-a081-4596-94fb-e17cbcf1c063 ro console=tty0 console=ttyS0,115200 "
    "earlyprintk=ttyS0,115200 rootdelay=300"
)
SD_ENTRY = (
    f"### /boot/efi/loader/entries/{MID}-6.1.0-28-cloud-amd64.conf\n"
    f"options    {SD_OPTIONS}\nlinux      /{MID}/6.1.0-28-cloud-amd64/linux\n"
)
SD_BOOT = (
    f"{SD_ENTRY}### /boot/efi/loader/loader.conf\n### @boot\nefi=1\n"
    f"LoaderInfo=systemd-boot 252.30-1~deb12u2\n"
    f"LoaderEntrySelected={MID}-6.1.0-28-cloud-amd64.conf\n"
)
SD_CMDLINE = f"initrd=\\{MID}\\6.1.0-28-cloud-amd64\\initrd.img-6.1.0-28-cloud-amd64 {SD_OPTIONS}\n"


def _sd(config: str) -> dict[str, str]:
    return {"bootloader_config": config, "cmdline": SD_CMDLINE}


def test_systemd_boot_boots_a_stale_grub_does_not() -> None:
    """GRUB's leftover files name the parameters; systemd-boot, which started the VM, does not."""
    assert run("grub_no_ata_params", _sd(SD_BOOT)).status is P
    result = run("grub_no_ata_params", _sd(STALE_GRUB + SD_BOOT))
    assert result.status is P, result.message
    assert result.message.startswith("absent from systemd-boot, which boots the image")
    # offline: the image's default entry is systemd-boot's, on an ESP the root tree lacks
    offline = SD_BOOT.replace("### @boot\nefi=1\n", "### @boot\n").split("LoaderInfo")[0]
    offline = offline.replace("/boot/efi/loader/entries/", "p1:/loader/entries/")
    offline += f"loader=systemd-boot\nentry=p1:/loader/entries/{MID}-6.1.0-28-cloud-amd64.conf\n"
    assert run("grub_no_ata_params", _sd(STALE_GRUB + offline)).status is P


def test_systemd_boot_entries_count_when_it_boots() -> None:
    """An older kernel's entry systemd-boot offers in its menu carries the parameters."""
    old = SD_ENTRY.replace("6.1.0-28", "6.1.0-25").replace(SD_OPTIONS, f"{SD_OPTIONS} {ATA}")
    result = run("grub_no_ata_params", _sd(old + SD_BOOT))
    assert result.status is F and "6.1.0-25-cloud-amd64.conf" in result.actual


def test_systemd_boot_files_do_not_count_when_grub_booted() -> None:
    """A UEFI boot without LoaderInfo is not known to be systemd-boot's: the running command
    line decides, so its leftover entry is discounted and GRUB's files count."""
    stale = SD_ENTRY.replace(SD_OPTIONS, f"{SD_OPTIONS} {ATA}")
    facts = _facts("rhel9", stale + "### @boot\nefi=1\n")
    result = run("grub_no_ata_params", facts)
    assert result.status is P and "absent from GRUB" in result.message
    assert "/boot/efi/loader/entries/" in result.message
    # without the loader's word, the running line decides: the RHEL entry holds, GRUB boots
    assert run("grub_no_ata_params", _facts("rhel9", stale)).status is P
    # GRUB's own files still fail it
    grub_input = f'### /etc/default/grub\nGRUB_CMDLINE_LINUX="{ATA}"\n'
    assert run("grub_no_ata_params", _facts("rhel9", grub_input + "### @boot\nefi=1\n")).status is F


# Recorded from the booted gen2 test image (OVMF, systemd-boot 252 from the ESP, which the guest
# does not mount; the good image's extlinux.conf stays in the root tree): only the EFI variables
# say systemd-boot started the kernel, and the running line carries its `initrd=` word.
def test_recorded_systemd_boot_guest_discounts_the_leftover_extlinux() -> None:
    facts = _facts("debian12-gen2")
    assert "LoaderInfo=systemd-boot 252" in facts["bootloader_config"]
    assert facts["cmdline"].startswith("initrd=\\initrd.img ")
    assert run("grub_no_ata_params", facts).status is P
    # the extlinux file systemd-boot does not read may name the parameters: still a pass
    stale = facts["bootloader_config"].replace("net.ifnames=0\n", f"net.ifnames=0 {ATA}\n", 1)
    result = run("grub_no_ata_params", {**facts, "bootloader_config": stale})
    assert result.status is P and result.message.startswith("absent from systemd-boot")
    assert "/boot/extlinux/extlinux.conf" in result.message
    # the running line is systemd-boot's entry: parameters there fail it
    running = {**facts, "cmdline": facts["cmdline"].strip() + f" {ATA}\n"}
    assert run("grub_no_ata_params", running).status is F
    # without the loader's EFI variables the same leftover is not known to be unused
    unknown = stale.split("LoaderInfo=")[0]
    assert run("grub_no_ata_params", {**facts, "bootloader_config": unknown}).status is F
