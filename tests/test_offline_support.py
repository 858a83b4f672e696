"""A small Debian-like root tree holding every file the offline fact readers look at, and the
bytes its fake binaries carry (kernel setup header, version strings, a cpio initramfs)."""

from __future__ import annotations

import gzip
import io
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

RELEASE = "6.1.0-9-cloud-amd64"
KERNEL_VERSION = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)"
HV_MODULES = (
    f"usr/lib/modules/{RELEASE}/kernel/drivers/hv/hv_vmbus.ko",
    f"usr/lib/modules/{RELEASE}/kernel/drivers/net/hyperv/hv_netvsc.ko",
    f"usr/lib/modules/{RELEASE}/kernel/drivers/scsi/hv_storvsc.ko",
)


def bzimage(release: str = RELEASE, version: str = KERNEL_VERSION, *, x64: bool = True) -> bytes:
    """The first bytes of an x86 bzImage: setup header with ``HdrS``, protocol 2.15, the
    ``kernel_version`` string and ``xloadflags``."""
    data = bytearray(0x4000)
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x206, 0x20F)
    text = f"{release} (builder@example) {version}".encode()
    struct.pack_into("<H", data, 0x20E, 0x1000 - 0x200)
    data[0x1000 : 0x1000 + len(text)] = text
    struct.pack_into("<H", data, 0x236, 1 if x64 else 0)
    return bytes(data)


def cpio(names: Sequence[str], *, trailer: bool = True, data: bytes = b"x") -> bytes:
    """A ``newc`` cpio archive of regular files called ``names`` (each holding ``data``)."""
    out = io.BytesIO()

    def entry(name: str, body: bytes, mode: int) -> None:
        raw = name.encode() + b"\0"
        fields = [0, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(raw), 0]
        out.write(b"070701" + b"".join(f"{v:08X}".encode() for v in fields))
        out.write(raw)
        out.write(b"\0" * ((-(110 + len(raw))) % 4))
        out.write(body)
        out.write(b"\0" * ((-len(body)) % 4))

    for name in names:
        entry(name, data, 0o100644)
    if trailer:
        entry("TRAILER!!!", b"", 0)
    return out.getvalue()


def initramfs(
    compress: Callable[[bytes], bytes] = gzip.compress, *, microcode: bool = True
) -> bytes:
    """An early uncompressed microcode archive, zero padding, then the compressed main archive
    with the Hyper-V modules after some filler entries."""
    main = cpio(["init", *(f"usr/lib/filler/{i}" for i in range(50)), *HV_MODULES], data=b"y" * 300)
    early = cpio(["kernel/x86/microcode/GenuineIntel.bin"]) if microcode else b""
    early += b"\0" * ((-len(early)) % 512)
    return early + compress(main)


def _write(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    os.chmod(path, mode)


def debian_tree(root: Path, *, grub: bool = True) -> Path:
    """A Debian 12-like root with planted findings (see tests/test_offline_facts.py)."""
    w = _write
    w(root / "etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    w(
        root / "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n",
    )
    w(
        root / "etc/shadow",
        "root:*:19000:0:99999:7:::\nalice:$6$salt$hash:19000:0:99999:7:::\nbob::19000::::::\n"
        "carol:!$6$x:1::::::",
        0o640,
    )
    w(
        root / "etc/fstab",
        "UUID=0f0e-1 / ext4 defaults 0 1\n# /old none swap sw 0 0\n/swapfile none swap sw 0 0\n",
    )
    w(
        root / "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPort 2222\nClientAliveInterval 120\n"
        "Match User alice\n  ClientAliveInterval 5\n",
    )
    w(root / "etc/ssh/sshd_config.d/10-keepalive.conf", "ClientAliveInterval 3m\n")
    w(root / "etc/ssh/ssh_host_ed25519_key", "key", 0o600)
    w(root / "usr/sbin/sshd", b"\x7fELF", 0o755)
    w(
        root / "etc/sudoers",
        "Defaults env_reset\n  Defaults targetpw\n# Defaults targetpw\n"
        "@includedir /etc/sudoers.d\n",
        0o440,
    )
    w(root / "etc/sudoers.d/new\nline", "Defaults !lecture\n# Defaults !targetpw\n", 0o440)
    w(root / "etc/modprobe.d/blk.conf", "blacklist vfat\n  install udf /bin/true\nblacklist udfx\n")
    w(root / "usr/lib/modprobe.d/ok.conf", "blacklist floppy\n")
    (root / "lib").symlink_to("usr/lib")
    (root / "bin").symlink_to("usr/bin")
    w(
        root / "etc/waagent.conf",
        "# AutoUpdate.Enabled=y\nAutoUpdate.Enabled=n\nResourceDisk.Format=y\n"
        "ResourceDisk.EnableSwap = y\nOther=1\n",
    )
    w(root / "etc/cloud/cloud.cfg", "swap:\n  filename: /swap.img\nusers: []\n")
    w(
        root / "etc/apt/sources.list",
        "deb http://deb.debian.org/debian bookworm main\n# deb-src x\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n",
    )
    w(root / "root/.bash_history", "ls\n" * 600, 0o600)
    w(root / "home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAA alice\n", 0o600)
    os.chown(root / "home/alice/.ssh/authorized_keys", 1000, 1000)
    w(root / "root/.ssh/authorized_keys", "command=\"echo 'Please login as alice'\" ssh-rsa A\n")
    w(root / "var/lib/dhcp/dhclient.eth0.leases", "lease {}\n")
    w(root / "var/lib/waagent/ovf-env.xml", "<x/>")
    (root / "var/lib/cloud/instances/iid-1").mkdir(parents=True)
    (root / "var/lib/cloud/instance").symlink_to("/var/lib/cloud/instances/iid-1")
    (root / "etc/resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    # boot
    w(root / f"boot/vmlinuz-{RELEASE}", bzimage())
    w(root / f"boot/initrd.img-{RELEASE}", initramfs())
    w(root / f"usr/lib/modules/{RELEASE}/modules.builtin", "kernel/fs/ext4/ext4.ko\n")
    if grub:
        w(
            root / "boot/grub/grub.cfg",
            'set default="${saved_entry}"\nload_env\n'
            f"menuentry 'Debian' --class debian $menuentry_id_option 'gnulinux-simple-x' {{\n"
            f"  linux /boot/vmlinuz-{RELEASE} root=UUID=0f0e-1 ro console=ttyS0 $extra\n}}\n"
            "submenu 'Advanced' $menuentry_id_option 'adv' {\n"
            f"  menuentry 'Debian, rescue' --id 'rescue' {{\n"
            f"    linux /boot/vmlinuz-{RELEASE} root=UUID=0f0e-1 ro single libata.atapi_enabled=0\n"
            "  }\n}\n",
        )
        w(root / "boot/grub/grubenv", "# GRUB Environment Block\nsaved_entry=adv>rescue\n")
    # tools and libraries
    for tool in ("usr/bin/dpkg-query", "usr/bin/lsinitramfs", "usr/bin/python3.11"):
        w(root / tool, b"\x7fELF\x00" + b"\x003.11.4\x00", 0o755)
    (root / "usr/bin/python3").symlink_to("python3.11")
    w(root / "usr/bin/openssl", b"\x7fELF\x00\x00OpenSSL 3.0.11 19 Sep 2023\x00", 0o755)
    w(
        root / "usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        b"\x7fELF\x00\x00OpenSSL 3.0.13 30 Jan 2024\x00",
    )
    w(
        root / "usr/lib/x86_64-linux-gnu/libc.so.6",
        b"\x7fELF\x00GNU C Library (Debian GLIBC 2.36-9+deb12u4) stable release version 2.36.\x00",
    )
    w(root / "usr/sbin/waagent", b"#!/usr/bin/python3\n", 0o755)
    w(
        root / "var/lib/dpkg/status",
        "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\n\n"
        "Package: waagent\nStatus: install ok installed\nVersion: 2.9.0.4-2\n\n"
        "Package: python3.11-minimal\nStatus: install ok installed\nVersion: 3.11.2-6\n",
    )
    return root
