"""The offline fact readers on one root tree per supported family: the verdicts the recorded
probe outputs give (``tests/test_checks_distros.py``'s EXPECTED table) come out of the image's
files too.

Each tree is generated from its distribution's recorded outputs (``tests/fixtures/probe_outputs``):
the configuration files the probes print (os-release, sshd_config and its drop-ins, sudoers,
modprobe.d, waagent.conf, cloud-init, repositories, network files, fstab) are written back where
the distribution keeps them, the planted defects of ``sles15`` and ``azurelinux3`` included. What
a probe only summarises is laid out the way the family ships it (:data:`LAYOUT`): the package
database in the family's format and place (dpkg's status; rpm's Berkeley DB ``Packages`` written
by ``db5.3_load`` on RHEL/CentOS 7, Alma 8 and SLES 12, NDB ``Packages.db`` in
``/usr/lib/sysimage/rpm`` on SLES 15, ``rpmdb.sqlite`` on RHEL 9 and Azure Linux 3), the boot
loader (extlinux; GRUB's ``grub.cfg`` with ``linux``/``linux16``; BLS entries with grubenv's
``kernelopts``; Azure Linux's ``load_env -f $bootprefix/mariner.cfg``), the kernel's setup
header and the initramfs at the family's path, the C library, OpenSSL and Python binaries. Only
what a deprovisioned image ships is there: whatever the recorded boot created (host keys,
leases, cloud-init's current instance newer than the boot time) is left out.

Where the offline reading legitimately differs from the probe, :data:`ONLINE_ONLY` (facts a
running system gives) and :data:`TEXT_DIFFERS` (the same value read another way) say why.
"""

from __future__ import annotations

import gzip
import os
import re
import sqlite3
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checks.fact import FACTS, Facts, load_builtin_facts
from checks.facts.agent_service import FACT as AGENT_SERVICE
from checks.facts.deprovision_state import DeprovisionState, Stamped
from checks.facts.initramfs_modules import InitramfsModules
from checks.facts.modprobe_blacklist import ModprobeLine
from checks.model import Result, Status
from checks.offline import read_image_facts
from checks.parsing import sections
from checks.plan import CheckPlan
from harness.policy import load_policy
from tests.test_checks_distros import EXPECTED, FIXTURES, facts_of, online_checks
from tests.test_images_fs_support import run, tool
from tests.test_offline_facts import _image, _rpm_header
from tests.test_offline_support import bzimage, cpio

load_builtin_facts()
PROBED = [f for f in FACTS if f.probed]
OFFLINE = {f.name for f in PROBED if f.offline is not None}


@dataclass(frozen=True)
class Layout:
    """Where a family keeps what the probes summarise."""

    loader: str
    """``extlinux``, ``grub`` (grub.cfg menu entries), ``bls`` (GRUB + BLS entries) or
    ``mariner`` (Azure Linux's grub.cfg that loads the kernel package's linux-REL.cfg)."""
    package_db: str
    """``dpkg``, ``bdb``, ``ndb`` or ``sqlite``."""
    initramfs: str
    """The initramfs path (``REL`` is the kernel release)."""
    lib: str
    """The directory of libc.so.6 and libcrypto."""
    packages: dict[str, str]
    """Fact -> package name: ``glibc``, ``agent_version``, ``python``."""
    rpmdb_dir: str = "/var/lib/rpm"
    usr_merge: bool = True
    """/bin, /sbin, /lib, /lib64 link into /usr (SLES keeps them apart)."""
    units: str = "/usr/lib/systemd/system"
    """Where the agent's package installs its unit."""


_RPM = {"glibc": "glibc", "agent_version": "WALinuxAgent", "python": "python3"}
LAYOUT: dict[str, Layout] = {
    "debian12": Layout(
        "extlinux",
        "dpkg",
        "/boot/initrd.img-REL",
        "/usr/lib/x86_64-linux-gnu",
        {"glibc": "libc6", "agent_version": "waagent", "python": "python3.11-minimal"},
    ),
    "ubuntu2204": Layout(
        "grub",
        "dpkg",
        "/boot/initrd.img-REL",
        "/usr/lib/x86_64-linux-gnu",
        {"glibc": "libc6", "agent_version": "walinuxagent", "python": "python3.10-minimal"},
    ),
    # CentOS 7: Python 2 is the only interpreter, from the "python" package
    "rhel7": Layout(
        "grub", "bdb", "/boot/initramfs-REL.img", "/usr/lib64", {**_RPM, "python": "python"}
    ),
    "rhel8": Layout("bls", "bdb", "/boot/initramfs-REL.img", "/usr/lib64", _RPM),
    "rhel9": Layout("bls", "sqlite", "/boot/initramfs-REL.img", "/usr/lib64", _RPM),
    "sles12": Layout(
        "grub",
        "bdb",
        "/boot/initrd-REL",
        "/usr/lib64",
        {**_RPM, "agent_version": "python-azure-agent"},
        usr_merge=False,
    ),
    # SLES 15 SP3+: rpm's NDB in /usr/lib/sysimage/rpm (/var/lib/rpm links there)
    "sles15": Layout(
        "grub",
        "ndb",
        "/boot/initrd-REL",
        "/usr/lib64",
        {**_RPM, "agent_version": "python3-azure-agent"},
        "/usr/lib/sysimage/rpm",
        usr_merge=False,
    ),
    "azurelinux3": Layout("mariner", "sqlite", "/boot/initramfs-REL.img", "/usr/lib", _RPM),
}

SSHD_KEYS = {
    "permitrootlogin": "PermitRootLogin",
    "passwordauthentication": "PasswordAuthentication",
    "clientaliveinterval": "ClientAliveInterval",
}
SSHD_DEFAULTS = {
    "permitrootlogin": ("prohibit-password", "without-password"),
    "passwordauthentication": ("yes",),
    "clientaliveinterval": ("0",),
}
"""sshd's built-in values (sshd_config(5)): a distribution's file does not spell them out."""

SUDOERS_INCLUDE = {
    "ubuntu2204": "@includedir /etc/sudoers.d",
    "sles15": "@includedir /etc/sudoers.d",
    "azurelinux3": "#includedir /etc/sudoers.d",
}
"""The sudoers packages' include line (sudo 1.9 writes ``@includedir``) where the transcribed
output leaves it out; Debian 12's (recorded) and the RHEL-like ones carry theirs, so the
comparison keeps the targetpw lines (:data:`COMPARE`)."""

HARNESS_USER = {"debian12": "vmcert"}
"""The login user the recorded boot was made through (tests/test_checks_distros.py)."""

UNIT = """[Unit]
Description=Azure Linux Agent
After=network-online.target cloud-init.service
ConditionFileIsExecutable=/usr/sbin/waagent

[Service]
Type=simple
ExecStart=/usr/bin/python3 -u /usr/sbin/waagent -daemon
Restart=always

[Install]
WantedBy=multi-user.target
"""
"""The agent's unit (WALinuxAgent's init/*.service, shortened)."""

ONLINE_ONLY: dict[str, str] = {
    name: FACTS.get(name).offline_note for name in sorted({f.name for f in PROBED} - OFFLINE)
}
"""Facts without an offline reader, with the fact's own reason: the checks that need them are
not judged offline (:func:`test_offline_verdicts_equal_the_recorded_ones` asserts it)."""

TEXT_DIFFERS: dict[str, str] = {
    "agent_service": "nothing is active in an image (active=inactive); the unit-file states "
    "(enabled, masked) are equal",
    "modprobe_blacklist": "the recorded SLES 15 output lists /usr/lib/modprobe.d/50-blacklist.conf "
    "although /etc/modprobe.d/50-blacklist.conf shadows it (modprobe.d(5): one file per name, "
    "/etc first), which neither the probe nor the reader prints; the files modprobe reads are "
    "equal",
    "repos": "files in the glob's sorted order (the recorded AlmaLinux 8 ones were transcribed "
    "in another); their contents are equal",
    "sshd": "the offline effective text adds a sshd_t_offline= line naming the connection it "
    "assumed instead of sshd -T's exit status; the effective values and main-file lines are equal",
    "accounts": "the offline text adds a ### key_ids section (uid and mtime of each key file); "
    "the key the harness installed for its own login on the recorded Debian 12 boot is not "
    "shipped",
    "bash_history": "the offline text adds ### ids and ### passwd sections (uids, accounts) the "
    "recorded legacy-format outputs lack; the histories (size, owner, path) are equal",
    "block_devices": "predicted from the synthetic tree's one ext4 partition, not the recorded "
    "disk layout (LVM, separate /boot, ESP); the layout checks are judged on real images in "
    "tests/test_offline_variants.py",
    "bootloader_config": "the offline text lists every boot-loader file it reads and names the "
    "default entry (loader=, entry=); the probe prints what the booted loader reported",
    "cmdline": "BOOT_IMAGE names the kernel as GRUB's root device sees it ((hd0,gpt3)/vmlinuz on "
    "a separate /boot online, the root tree's path offline); the other arguments are equal",
    "deprovision_state": "only what the image ships: the host keys, leases and cloud-init "
    "instance the recorded boot created are not in the image; what it shipped is equal",
    "initramfs_modules": "the archive is listed directly (names) where the probe printed "
    "lsinitrd's long listing, up to vmbus and storvsc as the probe's awk stops; the release, "
    "built-ins and Hyper-V modules found are equal",
    "sudoers": "the transcribed Ubuntu, SLES 15 and Azure Linux outputs leave out the include "
    "line both print (SUDOERS_INCLUDE); the targetpw lines, in sudo's order, are equal",
    "swap": "nothing is active in an image (Ubuntu's and Azure Linux's active swap was set up "
    "at boot); the fstab entries are equal",
    "uname": "no clock in an image: btime/now are absent; machine, release and version equal",
}
"""Facts whose offline text is not the probe's, with why; :data:`COMPARE` says what the two
values share (and :func:`test_offline_texts_read_as_the_recorded_ones` compares it)."""


# -- the trees ---------------------------------------------------------------------------------


def _write(root: Path, path: str, content: str | bytes, mode: int = 0o644) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    with open(target, "ab") as handle:  # several recorded lines may land in one file
        handle.write(content)
    os.chmod(target, mode)
    return target


def _numbered(root: Path, path: str, lines: dict[int, str], mode: int = 0o644) -> None:
    """A file whose line N is ``lines[N]`` (comments elsewhere), as ``grep -n`` showed it."""
    last = max(lines, default=0)
    text = "".join(f"{lines.get(n, '#')}\n" for n in range(1, last + 1))
    _write(root, path, text, mode)


def _rpm_blobs(packages: dict[str, str]) -> list[bytes]:
    out = []
    for name, evr in packages.items():
        version, _, release = evr.partition("-")
        out.append(_rpm_header({1000: name, 1001: version, 1002: release}))
    return out


def _bdb(blobs: list[bytes], out: Path) -> bytes:
    """A Berkeley DB hash ``Packages`` written by ``db5.3_load``, keyed as rpm keys it (4-byte
    package numbers, the last number used under key 0), as tests/fixtures/rpmdb/make.sh does."""
    tool("db5.3_load")
    lines = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=4096", "HEADER=END"]
    for number, blob in enumerate(blobs, 1):
        lines += [" " + struct.pack("<I", number).hex(), " " + blob.hex()]
    lines += [" 00000000", " " + struct.pack("<I", len(blobs)).hex(), "DATA=END"]
    dump = out.with_suffix(".dump")
    dump.write_text("\n".join(lines) + "\n")
    run("db5.3_load", "-f", dump, "-t", "hash", out)
    return out.read_bytes()


def _ndb(blobs: list[bytes]) -> bytes:
    """An NDB ``Packages.db`` in the layout of rpm's ``lib/backend/ndb/rpmpkg.c``: the RpmP
    header, one page of slots, then each blob framed by BlbS (index, generation, length) and a
    trailer (Adler-32, length, BlbE), in 16-byte blocks."""
    page, block = 4096, 16
    slots = bytearray(page)
    struct.pack_into("<4sIIII", slots, 0, b"RpmP", 0, 1, 1, len(blobs) + 1)
    data = bytearray()
    for offset in range(32, page, 16):
        struct.pack_into("<4sIII", slots, offset, b"Slot", 0, 0, 0)
    for number, blob in enumerate(blobs, 1):
        size = -(-(16 + len(blob) + 12) // block) * block
        framed = bytearray(struct.pack("<4sIII", b"BlbS", number, 1, len(blob)) + blob)
        framed += b"\0" * (size - 12 - len(framed))
        framed += struct.pack("<II4s", zlib.adler32(framed), len(blob), b"BlbE")
        start = (page + len(data)) // block
        struct.pack_into(
            "<4sIII", slots, 32 + 16 * (number - 1), b"Slot", number, start, size // block
        )
        data += framed
    return bytes(slots + data)


def _sqlite(blobs: list[bytes], out: Path) -> bytes:
    """rpm's sqlite back end's ``Packages`` table (``hnum``, ``blob``)."""
    db = sqlite3.connect(out)
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    db.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    db.commit()
    db.close()
    return out.read_bytes()


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln]


def family_tree(distro: str, root: Path, scratch: Path) -> Path:
    """The root tree of ``distro`` (see the module docstring)."""
    rec = {p.stem: p.read_text() for p in (FIXTURES / distro).glob("*.txt")}
    lay = LAYOUT[distro]

    def w(path: str, content: str | bytes, mode: int = 0o644) -> Path:
        return _write(root, path, content, mode)

    btime = int(sections(rec["deprovision_state"])[""].split("=", 1)[1])
    if lay.usr_merge:
        for top in ("bin", "sbin", "lib", "lib64"):
            (root / "usr" / top).mkdir(parents=True)
            (root / top).symlink_to(f"usr/{top}")
    w("/etc/os-release", rec["os_release"])

    # accounts, keys and histories; uids in shadow order (root 0)
    users = [ln.split()[0] for ln in _lines(sections(rec["accounts"])["shadow"])]
    uid = {u: (0 if u == "root" else 1000 + i) for i, u in enumerate(users)}
    home = {u: "/root" if u == "root" else f"/home/{u}" for u in users}
    secret = {"locked": "!!", "hash": "$6$rounds$fakehash", "empty": ""}
    for user, state in (ln.split() for ln in _lines(sections(rec["accounts"])["shadow"])):
        w("/etc/passwd", f"{user}:x:{uid[user]}:{uid[user]}::{home[user]}:/bin/bash\n")
        w("/etc/shadow", f"{user}:{secret[state]}:19000:0:99999:7:::\n", 0o000)
    for path, user, kind in (
        ln.split() for ln in _lines(sections(rec["accounts"])["authorized_keys"])
    ):
        if user == HARNESS_USER.get(distro):
            continue  # installed by the harness's boot, not shipped
        key = (
            "command=\"echo 'Please login as azureuser'\" ssh-rsa A\n"
            if kind == "stub"
            else "ssh-ed25519 AAAA k\n"
        )
        os.chown(w(path, key, 0o600), uid[user], uid[user])
    for size, user, path in (ln.split() for ln in _lines(rec["bash_history"])):
        os.chown(w(path, "x" * int(size), 0o600), uid[user], uid[user])

    # what the image shipped: the deprovision leftovers older than the recorded boot
    leftovers = sections(rec["deprovision_state"])
    for part in ("host_keys", "dhcp_leases", "waagent", "cloud_instances"):
        for line in _lines(leftovers[part]):
            stamp, path = int(line.split()[0]), line.split()[-1]
            if stamp >= btime:
                continue
            target = root / path.lstrip("/")
            if part == "cloud_instances":
                target.mkdir(parents=True)
            else:
                w(path, "x", 0o600)
            os.utime(target, (stamp, stamp))
    resolv = leftovers["resolv_conf"].strip()
    if resolv.startswith("symlink "):
        (root / "etc/resolv.conf").symlink_to(resolv.split(" ", 1)[1])
    elif resolv.startswith("file ") and int(resolv.split()[1]) < btime:
        os.utime(w("/etc/resolv.conf", "nameserver 168.63.129.16\n"), (1, 1))

    # sshd: the main file as grep -n showed it, the effective values it lacks in a drop-in
    sshd = sections(rec["sshd"])
    main = {int(n): t for n, _, t in (ln.partition(":") for ln in _lines(sshd["main_config"]))}
    effective = dict(ln.split(" ", 1) for ln in _lines(sshd["effective"]) if " " in ln)
    main_keys = {t.split()[0].lower() for t in main.values()}
    extra = "".join(
        f"{SSHD_KEYS[key]} {value}\n"
        for key, value in effective.items()
        if key in SSHD_KEYS and key not in main_keys and value not in SSHD_DEFAULTS[key]
    )
    if any(t.startswith("Include") for t in main.values()):
        _numbered(root, "/etc/ssh/sshd_config", main)
        w("/etc/ssh/sshd_config.d/50-cloud-init.conf", extra)
    else:  # the settings the grep did not show, after the lines it did
        _numbered(root, "/etc/ssh/sshd_config", {**main, max(main, default=0) + 1: extra.rstrip()})
    w("/usr/sbin/sshd", b"\x7fELF", 0o755)

    # sudoers, modprobe.d, waagent.conf and cloud-init, repositories, network files, fstab
    sudoers: dict[str, dict[int, str]] = {}
    for line in _lines(rec["sudoers"]):
        path, n, text = line.split(":", 2)
        sudoers.setdefault(path, {})[int(n)] = text
    include = SUDOERS_INCLUDE.get(distro)
    if include is not None:  # the family's include line after the recorded ones, and a drop-in
        lines = sudoers.setdefault("/etc/sudoers", {})
        lines[max(lines, default=0) + 2] = include
        w("/etc/sudoers.d/90-cloud-init-users", "azureuser ALL=(ALL) NOPASSWD:ALL\n", 0o440)
    for path, numbered in sudoers.items():
        _numbered(root, path, numbered, 0o440)
    for line in _lines(rec["modprobe_blacklist"]):
        path, _, text = line.partition(":")
        w(path, text + "\n")
    agent, _, cloud = rec["waagent_conf"].partition("### cloud_init\n")
    w("/etc/waagent.conf", "# Microsoft Azure Linux Agent Configuration\n" + agent)
    for line in _lines(cloud):
        if line == "cloud_init_present=yes":
            w("/etc/cloud/cloud.cfg", "datasource_list: [ Azure ]\n")
        else:
            path, _, text = line.partition(":")
            w(path, text + "\n")
    for part in ("repos", "network_config"):
        for path, body in sections(rec[part]).items():
            if path:
                w(path, body)
    swaps = _lines(sections(rec["swap"])["fstab"])
    w("/etc/fstab", "UUID=0f0e-1 / ext4 defaults 0 1\n" + "".join(f"{s} 0 0\n" for s in swaps))

    # kernel, initramfs, boot loader
    uname = dict(ln.split("=", 1) for ln in _lines(rec["uname"]))
    release = uname["release"]
    w(f"/boot/vmlinuz-{release}", bzimage(release, uname["version"]))
    initramfs = sections(rec["initramfs_modules"])
    w(f"/lib/modules/{release}/modules.builtin", initramfs["builtin"])
    modules = [
        ln.split()[-1] for ln in _lines(initramfs["initramfs"]) if not ln.startswith("image=")
    ]
    w(lay.initramfs.replace("REL", release), gzip.compress(cpio(["init", *modules])))
    _boot_loader(root, distro, lay, rec, release, w)

    # binaries and the package database
    binaries = "/usr/bin"
    glibc = dict(ln.split(" ", 1) if " " in ln else ln.split("=", 1) for ln in _lines(rec["glibc"]))
    w(
        f"{lay.lib}/libc.so.6",
        f"\x7fELF\0GNU C Library (GLIBC {glibc['package']}) stable release version "
        f"{glibc['glibc']}.\0",
    )
    m = re.fullmatch(r"(.*?)(?: \(Library: (.*)\))?", rec["openssl"].strip())
    assert m is not None
    w(f"{binaries}/openssl", f"\x7fELF\0\0{m.group(1)}\0", 0o755)
    w(f"{lay.lib}/libcrypto.so.3", f"\x7fELF\0\0{m.group(2) or m.group(1)}\0")
    python = rec["python"].split()[1]
    major_minor = ".".join(python.split(".")[:2])
    w(f"{binaries}/python{major_minor}", b"\x7fELF\0", 0o755)
    (root / f"usr/bin/python{python[0]}").symlink_to(f"python{major_minor}")
    w("/usr/sbin/waagent", "#!/usr/bin/python3\n", 0o755)
    for line in _lines(rec["agent_service"]):  # the unit as the package ships it, enabled or masked
        unit, state = line.split()[0], line.split()[1].split("=", 1)[1]
        w(f"{lay.units}/{unit}", UNIT)
        etc = root / "etc/systemd/system"
        if state == "masked":
            etc.mkdir(parents=True, exist_ok=True)
            (etc / unit).symlink_to("/dev/null")
        elif state == "enabled":
            (etc / "multi-user.target.wants").mkdir(parents=True, exist_ok=True)
            (etc / "multi-user.target.wants" / unit).symlink_to(f"{lay.units}/{unit}")
    versions = {
        "glibc": glibc["package"],
        "agent_version": rec["agent_version"].strip().split("=", 1)[1],
        "python": f"{python}-1",
    }
    installed = {lay.packages[k]: v for k, v in versions.items()}
    if lay.package_db == "dpkg":
        w("/usr/bin/dpkg-query", b"\x7fELF", 0o755)
        w("/usr/bin/lsinitramfs", "#!/bin/sh\n", 0o755)
        status = "".join(
            f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n\n"
            for name, version in installed.items()
        )
        w("/var/lib/dpkg/status", status)
    else:
        w("/usr/bin/rpm", b"\x7fELF", 0o755)
        w("/usr/bin/lsinitrd", "#!/bin/bash\n", 0o755)  # dracut; no cpio: the probe's fallback
        blobs = _rpm_blobs({"kernel": release, **installed})
        if lay.package_db == "bdb":
            w(f"{lay.rpmdb_dir}/Packages", _bdb(blobs, scratch / "Packages"))
        elif lay.package_db == "ndb":
            w(f"{lay.rpmdb_dir}/Packages.db", _ndb(blobs))
        else:
            w(f"{lay.rpmdb_dir}/rpmdb.sqlite", _sqlite(blobs, scratch / "rpmdb.sqlite"))
        if lay.rpmdb_dir != "/var/lib/rpm":
            (root / "var/lib").mkdir(parents=True, exist_ok=True)
            (root / "var/lib/rpm").symlink_to("../../usr/lib/sysimage/rpm")
    return root


def _boot_loader(
    root: Path,
    distro: str,
    lay: Layout,
    rec: dict[str, str],
    release: str,
    w: Callable[[str, str | bytes], Path],
) -> None:
    """The family's boot-loader files for the recorded command line (and /etc/default/grub)."""
    config = sections(rec["bootloader_config"])
    args = rec["cmdline"].split()[1:]
    cmdline = " ".join(args)
    for path in ("/etc/default/grub",):
        if path in config:
            w(path, config[path])
    if lay.loader == "extlinux":
        initrd = next(a for a in args if a.startswith("initrd=")).split("=", 1)[1]
        append = " ".join(a for a in args if not a.startswith("initrd="))
        w(
            "/boot/extlinux/extlinux.conf",
            f"DEFAULT debian\nTIMEOUT 0\nLABEL debian\n  LINUX /boot/vmlinuz-{release}\n"
            f"  INITRD {initrd}\n  APPEND {append}\n",
        )
    elif lay.loader == "grub":
        linux = "linux16" if distro == "rhel7" else "linux"
        kernel = rec["cmdline"].split()[0].split("=", 1)[1]
        w(
            "/boot/grub2/grub.cfg" if distro != "ubuntu2204" else "/boot/grub/grub.cfg",
            "set default=0\n"
            f"menuentry '{distro}' --class gnu-linux {{\n\t{linux} {kernel} {cmdline}\n}}\n"
            "menuentry 'rescue' {\n\tlinux /vmlinuz-0-rescue root=/dev/sda1 single\n}\n",
        )
    elif lay.loader == "bls":
        entry = f"ffffffffffffffffffffffffffffffff-{release}"
        w("/boot/grub2/grub.cfg", 'load_env\nset default="${saved_entry}"\nblscfg\n')
        w(
            "/boot/grub2/grubenv",
            f"# GRUB Environment Block\nsaved_entry={entry}\nkernelopts={cmdline}\n",
        )
        # RHEL 8 entries take $kernelopts from grubenv, RHEL 9's spell the options out
        options = "$kernelopts" if distro == "rhel8" else cmdline
        w(
            f"/boot/loader/entries/{entry}.conf",
            f"title {distro}\nversion {release}\nlinux /vmlinuz-{release}\n"
            f"initrd /initramfs-{release}.img\noptions {options}\n",
        )
    else:  # Azure Linux: toolkit/resources/assets/grub2/grub.cfg and the kernel's linux-REL.cfg
        device = next(a for a in args if a.startswith("root="))
        rest = [a for a in args if a not in (device, "rd.auto=1", "lockdown=integrity")]
        rest = [
            a for a in rest if not a.startswith(("sysctl.kernel.unprivileged_bpf", "net.ifnames"))
        ]
        w(
            "/boot/grub2/grub.cfg",
            "set timeout=0\nset bootprefix=/boot\nsearch -n -u 1234 -s\n\n"
            "load_env -f $bootprefix/mariner.cfg\nif [ -f  $bootprefix/systemd.cfg ]; then\n"
            "\tload_env -f $bootprefix/systemd.cfg\nelse\n\tset systemd_cmdline=net.ifnames=0\nfi\n"
            f"set rootdevice={device.split('=', 1)[1]}\n\n"
            'menuentry "CBL-Mariner" {\n'
            "\tlinux $bootprefix/$mariner_linux rd.auto=1 root=$rootdevice $mariner_cmdline "
            "lockdown=integrity sysctl.kernel.unprivileged_bpf_disabled=1 $systemd_cmdline "
            "$kernelopts console=ttyS0\n}\n",
        )
        rest.remove("console=ttyS0")
        w(
            f"/boot/linux-{release}.cfg",
            f"mariner_linux=vmlinuz-{release}\nmariner_initrd=initramfs-{release}.img\n"
            f"mariner_cmdline={' '.join(rest)}\n",
        )
        w("/boot/systemd.cfg", "systemd_cmdline=net.ifnames=0\n")
        # the kernel package's %post: ln -sf linux-REL.cfg /boot/mariner.cfg
        (root / "boot/mariner.cfg").symlink_to(f"linux-{release}.cfg")


# -- reading them ------------------------------------------------------------------------------

_READ: dict[str, tuple[Facts, dict[str, str]]] = {}


def offline_facts(
    distro: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Facts, dict[str, str]]:
    """The offline facts of ``distro``'s tree on an ext4 image, read once per session."""
    if distro not in _READ:
        tmp = tmp_path_factory.mktemp(distro)
        tree = family_tree(distro, tmp / "root", tmp)
        rec = (FIXTURES / distro / "deprovision_state.txt").read_text()
        btime = int(rec.split("\n", 1)[0].split("=", 1)[1])
        collection = read_image_facts(_image(tmp, tree, size_mib=48), PROBED, now=btime)
        assert not collection.facts.errors, collection.facts.errors
        _READ[distro] = (collection.facts, dict(collection.unavailable))
    return _READ[distro]


DISTROS = sorted(EXPECTED)


def _results(facts: Facts, unavailable: dict[str, str]) -> dict[str, Result]:
    plan = CheckPlan(online_checks(), load_policy("marketplace"))
    return {r.check_id: r for r in plan.evaluate(facts, unavailable=unavailable)}


LAYOUT_CHECKS = {"no_lvm_os_disk", "single_root_partition", "no_swap_on_os_disk"}
"""Checks of the disk layout (the ``image`` fact, which the harness supplies from the image
itself, and ``block_devices``): judged here on the synthetic tree's single ext4 partition, so
the recorded LVM layouts' warnings are not expected; their fstab swap entries are."""


@pytest.mark.parametrize("distro", DISTROS)
def test_offline_verdicts_equal_the_recorded_ones(
    distro: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every check the recorded outputs judge: judged from the files alike, or not judged for
    a fact only a running system gives (its reason in :data:`ONLINE_ONLY`)."""
    facts, unavailable = offline_facts(distro, tmp_path_factory)
    online = facts_of(distro)
    results = _results(facts, unavailable)
    judged = 0
    for check in online_checks():
        if not any(f in online for f in check.fact_names):
            continue
        result, expected = results[check.id], EXPECTED[distro].get(check.id, Status.PASS)
        missing = [f for f in check.fact_names if f in ONLINE_ONLY]
        if missing:
            assert result.status is Status.SKIPPED, (check.id, result.message)
            for name in missing:
                assert f"{name}: needs a running system: {ONLINE_ONLY[name]}" in result.not_judged
            continue
        judged += 1
        if check.id in LAYOUT_CHECKS and expected is Status.WARNING:
            expected = Status.PASS  # the recorded LVM root; the tree has one plain partition
        assert result.status is expected, (check.id, result.message)
        assert set(result.sources.values()) == {"offline"}
    assert judged >= 22


def _shipped(value: DeprovisionState) -> tuple[object, ...]:
    """What the image shipped: the leftovers older than the boot (the recorded boot's own host
    keys, lease, cloud-init instance and resolv.conf are newer)."""

    def old(stamped: tuple[Stamped, ...]) -> tuple[str, ...]:
        return tuple(s.path for s in stamped if s.mtime < value.btime)

    instances = tuple(
        c.path
        for c in value.cloud_instances
        if not c.current and (not c.birth.isdigit() or int(c.birth) < value.btime)
    )
    resolv = value.resolv_conf
    if resolv.startswith("file ") and int(resolv.split()[1]) >= value.btime:
        resolv = "absent"
    elif resolv.startswith("file "):
        resolv = "file"
    return old(value.host_keys), old(value.dhcp_leases), old(value.waagent), instances, resolv


def _first_per_name(lines: tuple[ModprobeLine, ...]) -> tuple[ModprobeLine, ...]:
    """The lines of the files modprobe reads: the first directory's file of each name."""
    first: dict[str, str] = {}
    for line in lines:
        first.setdefault(line.path.rsplit("/", 1)[1], line.path)
    return tuple(ln for ln in lines if first[ln.path.rsplit("/", 1)[1]] == ln.path)


def _hv(value: InitramfsModules) -> tuple[object, ...]:
    kinds = {m.group(1) for ln in value.initramfs if (m := re.search(r"/hv_(\w+)\.ko", ln))}
    # the listing stops once vmbus and storvsc are seen, as the probe's does
    return value.release, value.builtin, sorted(kinds & {"vmbus", "storvsc"})


COMPARE: dict[str, Callable[[Any, str], object]] = {
    "accounts": lambda v, d: (
        v.shadow,
        tuple(k for k in v.authorized_keys if k.owner != HARNESS_USER.get(d)),
    ),
    "agent_service": lambda v, d: tuple((u.unit, u.enabled) for u in v.units),
    "bash_history": lambda v, d: tuple((f.size, f.owner, f.path) for f in v.files),
    "block_devices": lambda v, d: None,
    "bootloader_config": lambda v, d: (
        tuple(f for f in v.files if f.path.startswith("/etc/default/grub")),
        v.systemd_boot is True,
    ),
    "cmdline": lambda v, d: sorted(p for p in v.params if not p.startswith("BOOT_IMAGE=")),
    "deprovision_state": lambda v, d: _shipped(v),
    "initramfs_modules": lambda v, d: _hv(v),
    "modprobe_blacklist": lambda v, d: _first_per_name(v.lines),
    "repos": lambda v, d: sorted(v.files, key=lambda f: f.path),
    "sshd": lambda v, d: (
        v.effective,
        v.client_alive_interval,
        v.main_client_alive_interval,
        v.includes,
        v.main_text,
    ),
    "sudoers": lambda v, d: tuple(ln for ln in v.lines if "targetpw" in ln.text),
    "swap": lambda v, d: v.fstab,
    "uname": lambda v, d: (v.machine, v.release, v.version),
}
"""For each fact of :data:`TEXT_DIFFERS`, what the offline and the recorded values share."""


def test_every_difference_has_a_reason() -> None:
    assert set(COMPARE) == set(TEXT_DIFFERS)
    assert set(TEXT_DIFFERS) <= OFFLINE
    assert all(ONLINE_ONLY.values()), ONLINE_ONLY


@pytest.mark.parametrize("distro", DISTROS)
def test_offline_texts_read_as_the_recorded_ones(
    distro: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each fact read from the files parses to the recorded value (or, where the reading
    differs for a stated reason, to the same shared part)."""
    facts, _unavailable = offline_facts(distro, tmp_path_factory)
    online = facts_of(distro)
    for name in sorted(OFFLINE):
        fact = FACTS.get(name)
        got, want = facts.get(fact), online.get(fact)
        assert got is not None and want is not None, name
        if name in COMPARE:
            got, want = COMPARE[name](got, distro), COMPARE[name](want, distro)
        assert got == want, name


def test_agent_unit_states_from_the_unit_directories(tmp_path: Path) -> None:
    """``systemctl is-enabled`` on the files: a unit with an [Install] section and no
    ``.wants`` link is disabled (does not start at boot), one without [Install] is static
    (started by what wants it); a /dev/null link in /run masks a unit as one in /etc does."""
    root = tmp_path / "root"
    _write(root, "/etc/os-release", "ID=debian\nVERSION_ID=12\n")
    _write(root, "/lib/systemd/system/walinuxagent.service", UNIT)
    _write(root, "/usr/lib/systemd/system/waagent.service", "[Service]\nExecStart=/bin/true\n")
    read = read_image_facts(_image(tmp_path, root), [AGENT_SERVICE])
    assert read.facts.raw["agent_service"] == (
        "walinuxagent.service enabled=disabled active=inactive\n"
        "waagent.service enabled=static active=inactive\n"
    )
    assert read.facts.require(AGENT_SERVICE).enabled == ("waagent.service",)
    (root / "run/systemd/system").mkdir(parents=True)
    (root / "run/systemd/system/walinuxagent.service").symlink_to("/dev/null")
    (tmp_path / "disk.raw").unlink()
    read = read_image_facts(_image(tmp_path, root), [AGENT_SERVICE])
    assert read.facts.raw["agent_service"].startswith("walinuxagent.service enabled=masked ")
