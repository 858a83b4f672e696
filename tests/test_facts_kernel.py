"""The kernel-area facts parse what their probes print: uname, cmdline, bootloader_config,
initramfs_modules, modprobe_blacklist and os_release (recorded outputs and their edge cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.facts import (
    bootloader_config,
    cmdline,
    initramfs_modules,
    modprobe_blacklist,
    os_release,
    uname,
)

RECORDED = Path(__file__).parent / "fixtures" / "probe_outputs"


def recorded(distro: str, fact: str) -> str:
    return (RECORDED / distro / f"{fact}.txt").read_text()


def test_uname_reads_each_key_and_the_debian_package_version() -> None:
    value = uname.parse(recorded("debian12", "uname"))
    assert (value.machine, value.release) == ("x86_64", "6.1.0-56-cloud-amd64")
    assert value.version == "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
    assert value.debian_package == "6.1.192-2"
    assert (value.btime, value.now) == (1795558101, 1795558592)
    assert uname.parse(recorded("ubuntu2204", "uname")).debian_package is None


def test_uname_without_values_reads_as_empty() -> None:
    assert uname.parse("") == uname.Uname(machine="", release="", version="")
    odd = uname.parse("machine=\nbtime=soon\nnow=" + "9" * 30 + "\nrelease=6.1\nrelease=5.0\n")
    assert (odd.machine, odd.btime, odd.now) == ("", None, None)
    assert odd.release == "6.1"  # the first of a repeated key, as key_values reads it


def test_cmdline_parameters_and_values() -> None:
    value = cmdline.parse(recorded("debian12", "cmdline"))
    assert value.text.startswith("BOOT_IMAGE=") and value.text == value.text.strip()
    assert value.values("console") == ("tty0", "ttyS0,115200")
    assert value.values("rootdelay") == ("300",)
    assert "ro" in value and "r" not in value and "rootdelay=300" in value
    assert value.values("numa") == ()
    assert cmdline.parse("  \n") == cmdline.Cmdline(text="", params=())


def test_bootloader_config_keeps_every_file_found_in_order() -> None:
    value = bootloader_config.parse(recorded("sles15", "bootloader_config"))
    assert [f.path for f in value.files] == ["/etc/default/grub"]
    assert "libata.atapi_enabled=0" in value.files[0].lines[0]
    text = "### /etc/default/grub\n### /boot/grub/grub.cfg\n\tlinux /vmlinuz ro\n"
    files = bootloader_config.parse(text).files
    assert [(f.path, f.lines) for f in files] == [
        ("/etc/default/grub", ()),
        ("/boot/grub/grub.cfg", ("\tlinux /vmlinuz ro",)),
    ]
    assert bootloader_config.parse("").files == ()
    # lines before any header (the probe prints none) are kept, under no path
    stray = bootloader_config.parse("linux x\n### /a\n").files
    assert [f.path for f in stray] == ["", "/a"]


def test_bootloader_config_says_which_loader_booted() -> None:
    """The ``@boot`` section: systemd-boot's LoaderInfo online, the default entry offline."""
    parse = bootloader_config.parse
    sd = parse(
        "### /boot/efi/loader/loader.conf\n### @boot\nefi=1\n"
        "LoaderInfo=systemd-boot 252.30-1~deb12u2\nLoaderEntrySelected=a.conf\n"
    )
    assert [f.path for f in sd.files] == ["/boot/efi/loader/loader.conf"]
    assert (sd.systemd_boot, sd.loader_info, sd.entry) == (
        True,
        "systemd-boot 252.30-1~deb12u2",
        "a.conf",
    )
    assert parse("### @boot\nefi=1\nLoaderInfo=rEFInd 0.14\n").systemd_boot is False
    assert parse("### @boot\nefi=1\n").systemd_boot is None  # UEFI without LoaderInfo: unknown
    assert parse("### @boot\nefi=0\n").systemd_boot is False  # BIOS: not a UEFI loader
    assert parse("### @boot\nefi=0\n").systemd_boot is False  # BIOS
    assert parse("### @boot\n").systemd_boot is None  # efivarfs not mounted
    assert parse("### /boot/grub/grub.cfg\n").systemd_boot is None  # an older probe's output
    offline = parse("### @boot\nloader=grub\nentry=/boot/grub/grub.cfg\n")
    assert (offline.systemd_boot, offline.loader_info) == (False, "offline: grub")
    assert parse("### @boot\nloader=systemd-boot\nentry=p1:/x\n").systemd_boot is True


def test_initramfs_modules_from_a_listing_and_from_modules_builtin() -> None:
    deb = initramfs_modules.parse(recorded("debian12", "initramfs_modules"))
    assert deb.release == "6.1.0-56-cloud-amd64" and deb.builtin == ()
    assert deb.image == "/boot/initrd.img-6.1.0-56-cloud-amd64"
    assert deb.initramfs[0] == f"image={deb.image}" and len(deb.initramfs) == 4
    ubuntu = initramfs_modules.parse(recorded("ubuntu2204", "initramfs_modules"))
    assert ubuntu.builtin[0] == "kernel/drivers/hv/hv_vmbus.ko"
    assert ubuntu.lines == ubuntu.builtin + ubuntu.initramfs
    azl = initramfs_modules.parse(recorded("azurelinux3", "initramfs_modules"))
    assert (azl.image, azl.initramfs) == ("lsinitrd", ("image=lsinitrd",))
    assert initramfs_modules.parse("") == initramfs_modules.InitramfsModules(release="")


def test_modprobe_blacklist_lines_by_file() -> None:
    value = modprobe_blacklist.parse(recorded("sles15", "modprobe_blacklist"))
    assert value.lines == (
        modprobe_blacklist.ModprobeLine("/etc/modprobe.d/50-blacklist.conf", "blacklist udf"),
        modprobe_blacklist.ModprobeLine(
            "/usr/lib/modprobe.d/50-blacklist.conf", "install vfat /bin/true"
        ),
    )
    assert modprobe_blacklist.parse("no colon here\n\n").lines == ()
    assert (
        modprobe_blacklist.parse("/a.conf:  blacklist  vfat \n").lines[0].text == "blacklist  vfat"
    )


@pytest.mark.parametrize(
    ("distro", "family", "id_", "version_id"),
    [
        ("debian12", "debian", "debian", "12"),
        ("ubuntu2204", "debian", "ubuntu", "22.04"),
        ("rhel9", "rhel", "rhel", "9.4"),
        ("sles15", "suse", "sles", "15.5"),
        ("azurelinux3", "azurelinux", "azurelinux", "3.0"),
    ],
)
def test_os_release_identifies_the_distribution(
    distro: str, family: str, id_: str, version_id: str
) -> None:
    value = os_release.parse(recorded(distro, "os_release"))
    assert (value.family, value.id, value.version_id) == (family, id_, version_id)


def test_os_release_quoting_comments_and_defaults() -> None:
    value = os_release.parse(
        '# a comment\nID="centos"\nID_LIKE="rhel fedora"\nNAME=\'CentOS Linux\'\n'
    )
    assert (value.id, value.id_like, value.get("NAME")) == ("centos", "rhel fedora", "CentOS Linux")
    assert value.version_codename == "" and value.get("VERSION_ID", "0") == "0"
    assert os_release.parse("ID=gentoo\n").family == "unknown"
    assert os_release.OsRelease().family == "unknown" and os_release.OsRelease().id == ""
    assert os_release.parse('ID="unterminated\n').id == "unterminated"
