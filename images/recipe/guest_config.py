"""What the good image is configured with: initramfs, boot loader, network, sshd, waagent,
cloud-init, apt, and the generalization a published image needs.

:func:`write_setup_files` places the files that must exist before the kernel is installed;
:func:`configure` edits the installed tree; :func:`prune_tree` drops what a cloud image does not
need (docs, man pages, locales, caches, logs).
"""

from __future__ import annotations

import re
from pathlib import Path

from images.errors import ImageBuildError
from images.recipe.aptsources import AptSource, image_sources_file
from images.recipe.tools import remove, run, safe_rmtree, write

INITRAMFS_MODULES: tuple[str, ...] = (
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "virtio_net",
    "sd_mod",
    "ahci",
    "ata_piix",
    "nvme",
    "ext4",
    "hv_vmbus",
    "hv_storvsc",
    "hv_netvsc",
)
"""Modules copied into the initramfs (MODULES=list). They are *included*, not force-loaded: udev
loads them by modalias, so the Hyper-V drivers do not print "No such device" errors under QEMU."""

KERNEL_CMDLINE = (
    "root=UUID={uuid} ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 "
    "rootdelay=300 net.ifnames=0"
)

_INITRAMFS_CONF = (
    "# vmcert test image: only the listed modules (see hooks/vmcert-modules)\nMODULES=list\n"
)

_INITRAMFS_HOOK = """#!/bin/sh
# vmcert test image: copy the virtio, SATA/NVMe and Hyper-V storage/network drivers into the
# initramfs without force-loading them (udev loads what the hardware needs).
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules {modules}
"""

# initramfs-tools' /init sleeps `rootdelay` seconds unconditionally (not a timeout as in dracut).
# Azure's self-test still asks for rootdelay=300, so these two scripts clear ROOTDELAY
# before that sleep (init-top) and restore it for scripts/local (init-premount), where it is the
# root-device wait timeout. /init sources /conf/param.conf after every script.
_INITRAMFS_ROOTDELAY_TOP = """#!/bin/sh
# vmcert test image: skip initramfs-tools' unconditional rootdelay sleep (see init-premount).
case "$1" in prereqs) exit 0;; esac
if [ -n "${ROOTDELAY}" ]; then
    echo "VMCERT_ROOTDELAY=${ROOTDELAY}" >> /conf/param.conf
    echo "ROOTDELAY=" >> /conf/param.conf
fi
"""

_INITRAMFS_ROOTDELAY_PREMOUNT = """#!/bin/sh
# vmcert test image: rootdelay becomes the root-device wait timeout again (scripts/local).
case "$1" in prereqs) exit 0;; esac
if [ -n "${VMCERT_ROOTDELAY}" ]; then
    echo "ROOTDELAY=${VMCERT_ROOTDELAY}" >> /conf/param.conf
fi
"""

_DPKG_NODOC = """# vmcert test image: keep the image small
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""

_NETWORKD_DHCP = """# vmcert test image: every Ethernet NIC comes up with DHCP. Matched by type:
# a Name= match on a kernel-assigned name makes networkd log a warning at every boot.
[Match]
Type=ether

[Network]
DHCP=yes
"""

_CLOUD_CFG = """# vmcert test image: Azure's provisioning (media, IMDS) or a NoCloud seed (the cidata disk);
# ds-identify picks the one the boot offers. networkd does DHCP.
datasource_list: [NoCloud, Azure, None]
network: {config: disabled}
locale: C.UTF-8
manage_etc_hosts: true
apt:
  preserve_sources_list: true
ssh_genkeytypes: [ed25519, ecdsa]
"""  # noqa: E501 (the guest's file: its first line is long)

_FSTAB = (
    "# <file system> <mount point> <type> <options> <dump> <pass>\n"
    "UUID={uuid} / ext4 errors=remount-ro 0 1\n"
)

_EXTLINUX_CONF = """SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 1
LABEL debian
  LINUX /boot/{kernel}
  INITRD /boot/{initrd}
  APPEND {cmdline}
"""


def write_setup_files(setup: Path) -> None:
    """Files that must be in place before the kernel and initramfs-tools are installed."""
    write(setup / "etc/initramfs-tools/conf.d/vmcert.conf", _INITRAMFS_CONF)
    write(
        setup / "etc/initramfs-tools/hooks/vmcert-modules",
        _INITRAMFS_HOOK.replace("{modules}", " ".join(INITRAMFS_MODULES)),
        0o755,
    )
    for stage, script in (
        ("init-top", _INITRAMFS_ROOTDELAY_TOP),
        ("init-premount", _INITRAMFS_ROOTDELAY_PREMOUNT),
    ):
        write(setup / f"etc/initramfs-tools/scripts/{stage}/vmcert-rootdelay", script, 0o755)
    write(setup / "etc/dpkg/dpkg.cfg.d/vmcert-nodoc", _DPKG_NODOC)
    write(setup / "etc/kernel-img.conf", "do_symlinks = no\n")


def configure(rootfs: Path, sources: list[AptSource], root_uuid: str, log: Path) -> None:
    """Configure and generalize the installed tree."""
    etc = rootfs / "etc"
    boot = rootfs / "boot"
    kernels = sorted(p.name for p in boot.glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise ImageBuildError(f"test image build: expected one kernel in {boot}, found {kernels}")
    kernel = kernels[0]
    initrd = "initrd.img-" + kernel.removeprefix("vmlinuz-")
    if not (boot / initrd).is_file():
        raise ImageBuildError(f"test image build: {boot / initrd} was not generated")

    cmdline = KERNEL_CMDLINE.format(uuid=root_uuid)
    write(
        boot / "extlinux/extlinux.conf",
        _EXTLINUX_CONF.format(kernel=kernel, initrd=initrd, cmdline=cmdline),
    )
    write(etc / "fstab", _FSTAB.format(uuid=root_uuid))
    write(etc / "hostname", "localhost\n")
    write(etc / "default/locale", "LANG=C.UTF-8\n")

    # apt: the host's mirror with -updates and -security, deb822 only.
    (etc / "apt/sources.list").unlink(missing_ok=True)
    write(etc / "apt/sources.list.d/debian.sources", image_sources_file(sources))

    # Network: systemd-networkd with DHCP; cloud-init: NoCloud only.
    write(etc / "systemd/network/50-dhcp.network", _NETWORKD_DHCP)
    write(etc / "cloud/cloud.cfg.d/90-vmcert.cfg", _CLOUD_CFG)

    # sshd: the keep-alive setting lives in the MAIN file, where certification reads it.
    sshd = etc / "ssh/sshd_config"
    text = sshd.read_text()
    text = re.sub(r"(?m)^#?\s*ClientAliveInterval\b.*$", "ClientAliveInterval 180", text)
    if "ClientAliveInterval 180" not in text:
        text += "\nClientAliveInterval 180\n"
    text = re.sub(r"(?m)^#?\s*PasswordAuthentication\b.*$", "PasswordAuthentication no", text)
    text = re.sub(r"(?m)^#?\s*UseDNS\b.*$", "UseDNS no", text)
    sshd.write_text(text)

    # waagent: cloud-init provisions; the resource disk is left to cloud-init; AutoUpdate back to
    # the agent's default (Debian's file says "=n", which the certification test flags). waagent
    # waits for the host key type it is told (default rsa, which cloud-init is not asked for:
    # up to 30 minutes).
    conf = etc / "waagent.conf"
    text = conf.read_text()
    for key, value in (
        ("Provisioning.Agent", "cloud-init"),
        ("Provisioning.SshHostKeyPairType", "ed25519"),
        ("ResourceDisk.Format", "n"),
        ("ResourceDisk.EnableSwap", "n"),
    ):
        text, count = re.subn(rf"(?m)^#?\s*{re.escape(key)}=.*$", f"{key}={value}", text)
        if count == 0:
            text += f"{key}={value}\n"
    text = re.sub(r"(?m)^\s*AutoUpdate\.Enabled=.*$", "# AutoUpdate.Enabled=y", text)
    conf.write_text(text)

    chroot = ["chroot", str(rootfs)]
    run([*chroot, "passwd", "--lock", "root"], "locking root's password", log)
    run(
        ["systemctl", f"--root={rootfs}", "enable", "systemd-networkd.service"],
        "enabling systemd-networkd",
        log,
    )
    run(
        ["systemctl", f"--root={rootfs}", "enable", "serial-getty@ttyS0.service"],
        "enabling serial-getty@ttyS0",
        log,
    )
    # e2scrub_reap only logs noise on a fresh image; walinuxagent stays enabled (its unit has
    # ConditionVirtualization=microsoft, so it is skipped quietly outside Hyper-V/Azure).
    run(
        ["systemctl", f"--root={rootfs}", "disable", "e2scrub_reap.service"],
        "disabling e2scrub_reap",
        log,
    )
    # systemd-repart (unused: no repart.d) pulls in modprobe@dm_mod, and loading dm_mod prints a
    # kernel warning about IMA at every boot; masking it keeps dmesg free of warnings.
    run(
        ["systemctl", f"--root={rootfs}", "mask", "systemd-repart.service"],
        "masking systemd-repart",
        log,
    )

    # Generalize: what `waagent -deprovision` and `cloud-init clean` would remove.
    for host_key in (etc / "ssh").glob("ssh_host_*"):
        host_key.unlink()
    (etc / "resolv.conf").unlink(missing_ok=True)
    write(etc / "machine-id", "", 0o444)
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for directory in ("var/lib/waagent", "var/lib/cloud", "var/lib/dhcp", "tmp", "var/tmp"):
        path = rootfs / directory
        if path.is_dir():
            for child in path.iterdir():
                remove(child)
    (rootfs / "root/.bash_history").unlink(missing_ok=True)


def prune_tree(rootfs: Path) -> None:
    """Drop docs, man pages and locales (dpkg's path-exclude misses what was unpacked before it)."""
    doc = rootfs / "usr/share/doc"
    for package in doc.iterdir() if doc.is_dir() else []:
        for item in package.iterdir() if package.is_dir() and not package.is_symlink() else []:
            if item.name != "copyright":
                remove(item)
    for directory in ("usr/share/man", "usr/share/info", "usr/share/lintian"):
        safe_rmtree(rootfs / directory)
    locale = rootfs / "usr/share/locale"
    for item in locale.iterdir() if locale.is_dir() else []:
        if item.name != "locale.alias":
            remove(item)
    for pattern in ("var/cache/apt/*.bin", "var/cache/debconf/*-old", "var/lib/dpkg/*-old"):
        for path in rootfs.glob(pattern):
            path.unlink()
    safe_rmtree(rootfs / "var/cache/apt/archives")
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    for log in (rootfs / "var/log").rglob("*"):
        if log.is_file():
            log.unlink()
