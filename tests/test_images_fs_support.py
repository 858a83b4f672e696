"""Builders of small real disk images for the ``images.fs`` tests (and self-tests of them).

Everything is written into files with the file-system tools' own file modes: ``mkfs.ext4 -d``
(populates from a directory), ``mkfs.xfs -p`` (protofile), ``mkfs.vfat`` + ``mcopy``, partition
tables with ``sfdisk`` on the file. LVM2 metadata needs a block device: ``pvcreate``/``lvcreate``
run on a loop device over a PV-sized file, with ``--driverloaded n`` (no device-mapper here);
where that is impossible the header recorded from those tools in ``tests/fixtures/fs`` is used.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

MIB = 1024 * 1024
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
LVM_TYPE = "E6D6D379-F507-44C2-A23C-238F2A3DF928"
RECORDED_PV = Path(__file__).parent / "fixtures" / "fs" / "lvm-pv-head.bin.gz"
RECORDED_PV_SIZE = 200 * MIB
"""The PV the recorded header was made for: VG ``vmcertvg``, LVs root (64 MiB, extents 0-15),
home (16 MiB, 16-19), swap (4 MiB, 20); 4 MiB extents from byte 1 MiB of the PV."""
HOSTILE_NAMES = ["new\nline", "tab\there", "back\\slash", "ümlaut", "x" * 255, " lead", "-dash"]
BAD_UTF8 = b"bad\xff\xfename"
DEEP = 100
MANY = 1500


def tool(*names: str) -> None:
    """Skip the test when a command-line tool is missing."""
    for name in names:
        if shutil.which(name) is None:
            pytest.skip(f"{name} is not installed (scripts/install.sh installs it)")


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    """Run a tool; its stderr becomes the failure message."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")


def root_tree(root: Path, *, hostile: bool = True, fstab: str = "", small: bool = False) -> Path:
    """A small Linux-like root with the files checks read, symlink traps and hostile names."""
    (root / "etc/ssh").mkdir(parents=True)
    (root / "etc/ssh/sshd_config").write_text("PermitRootLogin no\nPasswordAuthentication no\n")
    (root / "etc/fstab").write_text(fstab or "# no mounts\n")
    (root / "etc/os-release").write_text('ID=testos\nVERSION_ID="1"\n')
    (root / "etc/hostname").write_text("testhost\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    os.chmod(root / "etc/shadow", 0o640)
    os.chown(root / "etc/shadow", 0, 42)
    (root / "etc/sudoers.d").mkdir()
    (root / "etc/sudoers.d/90-cloud").write_text("user ALL=(ALL) NOPASSWD:ALL\n")
    os.chmod(root / "etc/sudoers.d/90-cloud", 0o440)
    (root / "root").mkdir(mode=0o700)
    (root / "root/.bash_history").write_text("ls\nrm -rf /tmp/x\n")
    (root / "home/user/.ssh").mkdir(parents=True)
    (root / "home/user/.ssh/authorized_keys").write_text("ssh-ed25519 AAAA test\n")
    os.chown(root / "home/user/.ssh/authorized_keys", 1000, 1000)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/true").write_bytes(b"\x7fELF" + bytes(60))
    os.chmod(root / "usr/bin/true", 0o4755)
    (root / "usr/share/zoneinfo").mkdir(parents=True)
    (root / "usr/share/zoneinfo/UTC").write_bytes(b"TZif2" + bytes(40))
    (root / "boot").mkdir()
    (root / "boot/efi").mkdir()
    os.symlink("usr/bin", root / "bin")
    os.symlink("/usr/share/zoneinfo/UTC", root / "etc/localtime")
    os.symlink("/etc/loop-b", root / "etc/loop-a")
    os.symlink("loop-a", root / "etc/loop-b")
    os.symlink("self", root / "etc/self")
    os.symlink("../../../../../../etc/hostname", root / "etc/escape-relative")
    os.symlink("/../../../etc/hostname", root / "etc/escape-absolute")
    os.symlink("/nonexistent/file", root / "etc/dangling")
    os.symlink("/etc/ssh/", root / "etc/ssh-dir")
    os.symlink("/etc/hostname", root / "etc/chain0")
    for i in range(1, 45):
        os.symlink(f"chain{i - 1}", root / f"etc/chain{i}")
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/big.log").write_bytes(b"L" * (3 * MIB))
    if not small:
        with open(root / "var/log/sparse", "wb") as handle:  # 1 GiB apparent, 1 byte of data
            handle.seek(1024 * MIB)
            handle.write(b"!")
    many = root / "var/many"
    many.mkdir()
    for i in range(MANY):
        (many / f"f{i:05d}").write_text(f"{i}\n")
    deep = root / "deep"
    for i in range(DEEP):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "leaf").write_text("leaf\n")
    os.link(root / "etc/hostname", root / "etc/hostname.hard")
    if hostile:
        hostile_dir = root / "hostile"
        hostile_dir.mkdir()
        for name in HOSTILE_NAMES:
            (hostile_dir / name).write_text(f"{name}\n")
        (hostile_dir / os.fsdecode(BAD_UTF8)).write_text("bad\n")
    return root


def _protofile(root: Path, out: Path) -> None:
    """An ``mkfs.xfs -p`` protofile for ``root``; names with white space cannot be expressed."""
    lines = ["/dev/null", "0 0", "d--755 0 0"]

    def walk(path: Path, depth: int) -> None:
        for name in sorted(os.listdir(path)):
            if any(ch.isspace() for ch in name):
                continue
            item, info, pad = path / name, os.lstat(path / name), " " * depth
            perm = f"{stat.S_IMODE(info.st_mode) & 0o777:03o}"
            suid = "u" if info.st_mode & stat.S_ISUID else "-"
            sgid = "g" if info.st_mode & stat.S_ISGID else "-"
            owner = f"{info.st_uid} {info.st_gid}"
            if stat.S_ISLNK(info.st_mode):
                lines.append(f"{pad}{name} l{suid}{sgid}{perm} {owner} {os.readlink(item)}")
            elif stat.S_ISDIR(info.st_mode):
                lines.append(f"{pad}{name} d{suid}{sgid}{perm} {owner}")
                walk(item, depth + 1)
                lines.append(f"{pad}$")
            elif stat.S_ISREG(info.st_mode):
                lines.append(f"{pad}{name} -{suid}{sgid}{perm} {owner} {item}")

    walk(root, 1)
    lines.append("$")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")


def mkfs(
    kind: str, tree: Path | None, out: Path, size: int, label: str = "", uuid: str = ""
) -> Path:
    """A file system image file of ``kind`` (ext4, ext2, xfs, vfat, swap) holding ``tree``;
    ``uuid`` is a UUID (a ``XXXXXXXX`` volume id for vfat)."""
    out.unlink(missing_ok=True)
    with open(out, "wb") as handle:
        handle.truncate(size)
    if kind in ("ext4", "ext3", "ext2"):
        tool("mkfs.ext4")
        extra = (["-L", label] if label else []) + (["-U", uuid] if uuid else [])
        populate = ["-d", str(tree)] if tree else []
        run("mkfs." + kind, "-q", "-F", *extra, *populate, out)
    elif kind == "xfs":
        tool("mkfs.xfs")
        proto: list[str] = []
        if tree:
            _protofile(tree, out.with_suffix(".proto"))
            proto = ["-p", str(out.with_suffix(".proto"))]
        # Below 300 MiB mkfs.xfs wants its test-suite environment (sizes are fine for reading).
        env = {**os.environ, "TEST_DIR": "/tmp", "TEST_DEV": "/dev/null", "QA_CHECK_FS": "1"}
        extra = (["-L", label] if label else []) + (["-m", f"uuid={uuid}"] if uuid else [])
        run("mkfs.xfs", "-q", "-f", *extra, *proto, out, env=env)
    elif kind == "vfat":
        tool("mkfs.vfat", "mcopy")
        extra = (["-n", label] if label else []) + (["-i", uuid] if uuid else [])
        run("mkfs.vfat", *extra, out)
        if tree:
            for item in sorted(tree.iterdir()):
                run("mcopy", "-s", "-i", out, item, "::/")
    elif kind == "swap":
        tool("mkswap")
        run("mkswap", out)
    else:
        raise AssertionError(kind)
    return out


@dataclass(frozen=True)
class Part:
    """A partition to lay out: size in MiB, type, and an image file to copy in (or raw bytes)."""

    size_mib: int
    type: str
    content: Path | None = None
    raw: bytes = b""


def make_disk(out: Path, parts: Sequence[Part], *, scheme: str = "gpt") -> list[int]:
    """A raw disk with ``parts`` (first at 1 MiB); returns each partition's byte offset."""
    tool("sfdisk")
    total = 1 + sum(p.size_mib for p in parts) + 1
    out.unlink(missing_ok=True)
    with open(out, "wb") as handle:
        handle.truncate(total * MIB)
    script = [f"label: {'gpt' if scheme == 'gpt' else 'dos'}"]
    offsets, at = [], 1
    for part in parts:
        script.append(f"start={at * 2048}, size={part.size_mib * 2048}, type={part.type}")
        offsets.append(at * MIB)
        at += part.size_mib
    proc = subprocess.run(
        ["sfdisk", "-q", str(out)], input="\n".join(script) + "\n", text=True, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    with open(out, "r+b") as disk:
        for part, offset in zip(parts, offsets, strict=True):
            if part.content is not None:
                copy_sparse(part.content, disk, offset)
            if part.raw:
                disk.seek(offset)
                disk.write(part.raw)
    return offsets


def copy_sparse(src: Path, disk: object, offset: int) -> None:
    """Copy ``src`` into the open ``disk`` at ``offset``, skipping all-zero 64 KiB chunks."""
    assert hasattr(disk, "seek") and hasattr(disk, "write")
    with open(src, "rb") as handle:
        pos = 0
        while chunk := handle.read(64 * 1024):
            if chunk.strip(b"\0"):
                disk.seek(offset + pos)
                disk.write(chunk)
            pos += len(chunk)


def convert(raw: Path, fmt: str, out_dir: Path) -> Path:
    """``raw`` converted by qemu-img: raw, vhd-fixed/-dynamic, vhdx, qcow2, qcow2-compressed."""
    tool("qemu-img")
    options = {
        "raw": ["-O", "raw"],
        "vhd-fixed": ["-O", "vpc", "-o", "subformat=fixed,force_size=on"],
        "vhd-dynamic": ["-O", "vpc", "-o", "subformat=dynamic,force_size=on"],
        "vhdx": ["-O", "vhdx"],
        "qcow2": ["-O", "qcow2"],
        "qcow2-compressed": ["-c", "-O", "qcow2"],
    }[fmt]
    out = out_dir / f"{raw.stem}.{fmt}"
    if fmt == "raw":
        return raw
    run("qemu-img", "convert", *options, raw, out)
    return out


def lvm_pv(path: Path, size: int, vg: str) -> bytes:
    """The first MiB of a fresh PV of ``size`` bytes (VG ``vg``, LVs root 64M, home 16M, swap 4M)
    made by the LVM tools on a loop device; skips where the tools or loop devices are missing."""
    tool("losetup", "pvcreate", "vgcreate", "lvcreate")
    if os.geteuid() != 0:
        pytest.skip("LVM tools need root for a loop device")
    with open(path, "wb") as handle:
        handle.truncate(size)
    proc = subprocess.run(["losetup", "-f", "--show", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"no loop device: {proc.stderr.strip()}")
    loop = proc.stdout.strip()
    quiet = ["--driverloaded", "n", "-q", "-y"]
    try:
        run("pvcreate", *quiet, loop)
        run("vgcreate", *quiet, vg, loop)
        for name, mib in (("root", 64), ("home", 16), ("swap", 4)):
            run("lvcreate", *quiet, "-an", "-Zn", "-L", f"{mib}M", "-n", name, vg)
        run("vgchange", "--driverloaded", "n", "-q", "-an", vg)
        with open(path, "rb") as handle:
            head = handle.read(MIB)
        run("vgremove", *quiet, "-f", vg)
    finally:
        subprocess.run(["losetup", "-d", loop], capture_output=True)
    return head


def recorded_pv() -> bytes:
    """The PV header recorded from the LVM tools (see :data:`RECORDED_PV_SIZE`)."""
    return gzip.decompress(RECORDED_PV.read_bytes())


# -- self-tests of the builders ----------------------------------------------------------------


def test_protofile_keeps_modes_owners_and_links(tmp_path: Path) -> None:
    tree = root_tree(tmp_path / "root", hostile=False)
    _protofile(tree, tmp_path / "p")
    text = (tmp_path / "p").read_text()
    assert " shadow ---640 0 42 " in text
    assert "localtime l--777 0 0 /usr/share/zoneinfo/UTC" in text
    assert "true -u-755 0 0" in text


def test_recorded_pv_header_is_an_lvm2_label() -> None:
    head = recorded_pv()
    assert len(head) == MIB
    assert head[512:520] == b"LABELONE" and head[536:544] == b"LVM2 001"
    assert b"vmcertvg" in head
