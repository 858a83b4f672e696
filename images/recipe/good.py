"""The good image: Debian 12 minbase plus cloud packages, ext4 on an MBR disk, extlinux, fixed VHD.

Packages are installed with ``mmdebstrap`` from the host's apt sources, the tree is configured
(:mod:`images.recipe.guest_config`) and filled into an ext4 file system with ``mke2fs -d`` (no
mount); extlinux is installed on a loop mount in a private mount namespace and the disk converted
with ``qemu-img`` to a fixed VHD whose virtual size is a whole number of MiB.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time
import uuid
from pathlib import Path

from images.recipe.aptsources import SUITE, host_apt_sources
from images.recipe.guest_config import configure, prune_tree, write_setup_files
from images.recipe.tools import MIB, PARTITION_OFFSET, Progress, run, safe_rmtree

PACKAGES: tuple[str, ...] = (
    "linux-image-cloud-amd64",
    "systemd-sysv",
    "udev",
    "dbus",
    "openssh-server",
    "sudo",
    "iproute2",
    "netbase",
    "kmod",
    "procps",
    "openssl",
    "python3",
    "ca-certificates",
    "cloud-init",
    "cloud-guest-utils",
    "extlinux",
    "syslinux-common",
    "waagent",
    "debian-archive-keyring",
)
"""Packages installed on top of ``--variant=minbase`` (recommends are not installed)."""


def build_good(work: Path, cache_root: Path, say: Progress, log: Path) -> Path:
    """Build the good image in ``work`` and return its fixed VHD there.

    Downloaded packages are kept in ``cache_root/debs`` for the next build.
    """
    sources = host_apt_sources()
    rootfs = work / "rootfs"
    setup = work / "setup"
    debs = cache_root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    write_setup_files(setup)

    say(f"good: mmdebstrap {SUITE} minbase + {len(PACKAGES)} packages (about a minute)")
    started = time.monotonic()
    run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            "--format=directory",
            "--include=" + ",".join(PACKAGES),
            '--aptopt=APT::Install-Recommends "false"',
            f'--setup-hook=cp -a "{setup}/." "$1/"',
            '--setup-hook=mkdir -p "$1/var/cache/apt/archives/"',
            f'--setup-hook=sync-in "{debs}" /var/cache/apt/archives/',
            f'--customize-hook=sync-out /var/cache/apt/archives "{debs}"',
            SUITE,
            str(rootfs),
            *(source.one_line() for source in sources),
        ],
        "mmdebstrap",
        log,
        stdin=subprocess.DEVNULL,
    )
    say(f"good: packages installed in {time.monotonic() - started:.0f} s; configuring")
    root_uuid = str(uuid.uuid4())
    configure(rootfs, sources, root_uuid, log)
    prune_tree(rootfs)

    say("good: writing the disk (MBR, ext4 via mke2fs -d, extlinux)")
    raw = work / "disk.raw"
    fs_bytes = _filesystem_size(rootfs)
    disk_bytes = PARTITION_OFFSET + fs_bytes
    with open(raw, "wb") as handle:
        handle.truncate(disk_bytes)
    run(
        [
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext4",
            "-O",
            "^64bit",
            "-U",
            root_uuid,
            "-L",
            "root",
            "-E",
            f"offset={PARTITION_OFFSET}",
            "-d",
            str(rootfs),
            str(raw),
            f"{fs_bytes // 1024}k",
        ],
        "mke2fs -d",
        log,
    )
    _install_extlinux(raw, fs_bytes, work, log)
    mbr_code = (rootfs / "usr/lib/EXTLINUX/mbr.bin").read_bytes()[:440]
    write_mbr(raw, disk_bytes, mbr_code)
    safe_rmtree(rootfs)

    say("good: converting to a fixed VHD")
    vhd = work / "disk.vhd"
    run(
        [
            "qemu-img",
            "convert",
            "-f",
            "raw",
            "-O",
            "vpc",
            "-o",
            "subformat=fixed,force_size=on",
            str(raw),
            str(vhd),
        ],
        "qemu-img convert",
        log,
    )
    raw.unlink()
    return vhd


def _filesystem_size(rootfs: Path) -> int:
    """ext4 size in bytes: the tree plus 15 % and 256 MiB headroom, a whole number of MiB."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(rootfs):
        total += 4096 * (len(dirnames) + len(filenames))
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                total += os.lstat(path).st_size
    wanted = int(total * 1.15) + 256 * MIB
    return (wanted + MIB - 1) // MIB * MIB


def _install_extlinux(raw: Path, fs_bytes: int, work: Path, log: Path) -> None:
    """extlinux needs its file system mounted: loop-mount it in a private mount namespace.

    The namespace dies with the command, so a killed build leaves no mount behind, and the loop
    device (mount -o loop sets autoclear) goes away with it.
    """
    mnt = work / "mnt"
    mnt.mkdir()
    script = (
        'set -e; mount -o loop,offset="$2",sizelimit="$3" "$1" "$4"; '
        'mount --bind /dev "$4/dev"; mount -t proc proc "$4/proc"; rc=0; '
        'chroot "$4" extlinux --install /boot/extlinux || rc=$?; '
        'umount "$4/proc"; umount "$4/dev"; umount "$4"; exit $rc'
    )
    run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(raw),
            str(PARTITION_OFFSET),
            str(fs_bytes),
            str(mnt),
        ],
        "extlinux --install",
        log,
    )


def write_mbr(raw: Path, disk_bytes: int, boot_code: bytes) -> None:
    """One active Linux (0x83) partition from LBA 2048 to the end of the disk."""
    start = PARTITION_OFFSET // 512
    sectors = disk_bytes // 512 - start
    chs_max = b"\xfe\xff\xff"
    entry = (
        b"\x80"
        + b"\x00\x21\x00"  # CHS of LBA 2048 is not meaningful here; LBA fields are what count
        + b"\x83"
        + chs_max
        + struct.pack("<II", start, sectors)
    )
    with open(raw, "r+b") as handle:
        handle.seek(0)
        handle.write(boot_code.ljust(440, b"\x00"))
        handle.write(os.urandom(4) + b"\x00\x00")  # disk signature
        handle.write(entry + b"\x00" * 48)
        handle.write(b"\x55\xaa")
