"""Benchmark of reading an image's files offline (``nox -s bench -- fs``).

Reads, from the cached Debian test image (``vmcert images build``; the newest cached good image
otherwise), every file the content checks need: ssh, sudo, waagent and cloud-init configuration,
account databases, shell histories, fstab, boot loader configuration, modprobe.d, the head of the
initramfs, the package database, host keys. Prints the seconds for opening the image (partition
table, volumes, root, fstab mounts) and for the reads, warm and in a fresh interpreter (imports
included), against the 2 s target.

``--compare`` also times the candidate libraries the choice was made between (those installed)
on small file systems built here; see docs/offline-content.md for the figures and the decision.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from images.fs import ImageFiles, ImagePathError, open_filesystems

TARGET_SECONDS = 2.0
FILES = [
    "/etc/os-release",
    "/etc/fstab",
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/sudoers",
    "/etc/ssh/sshd_config",
    "/etc/waagent.conf",
    "/etc/default/grub",
    "/etc/machine-id",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/cloud/cloud.cfg",
    "/etc/kernel/cmdline",
    "/boot/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/boot/extlinux/extlinux.conf",
    "/var/lib/dpkg/status",
    "/var/lib/rpm/rpmdb.sqlite",
]
PATTERNS = [
    "/etc/ssh/sshd_config.d/*",
    "/etc/sudoers.d/*",
    "/etc/modprobe.d/*",
    "/etc/cloud/cloud.cfg.d/*",
    "/etc/ssh/ssh_host_*",
    "/root/.*history",
    "/home/*/.*history",
    "/home/*/.ssh/authorized_keys",
    "/root/.ssh/authorized_keys",
    "/boot/loader/entries/*",
    "/var/lib/cloud/instances/*",
    "/var/log/*.log",
]
INITRD = "/boot/initrd.img-*"


def read_everything(files: ImageFiles) -> tuple[int, int]:
    """Read what the checks need; return (files read, bytes read)."""
    count = total = 0
    paths = list(FILES)
    for pattern in PATTERNS:
        paths += files.glob(pattern)
    for path in paths:
        try:
            data = files.read_file(path, 64 * 1024 * 1024, truncate=True)
        except ImagePathError:
            continue
        count, total = count + 1, total + len(data)
    for path in files.glob(INITRD):  # compression and the first cpio members: the head suffices
        total += len(files.read_file(path, 1024 * 1024, truncate=True))
        count += 1
    return count, total


def sample_image() -> Path:
    """The current recipe's cached good image, else the newest cached one."""
    try:
        from images.recipe import cached_image_path

        path = cached_image_path("good")
        if path.exists():
            return path
    except Exception:  # the recipe may be mid-change: fall back to the cache directory
        pass
    cached = sorted(
        Path.home().glob(".cache/vmcert/images/debian12-good-*.vhd"), key=os.path.getmtime
    )
    if not cached:
        raise SystemExit("no cached test image: run `vmcert images build` first")
    return cached[-1]


def bench_image(image: Path, rounds: int) -> None:
    """Print open and read times on ``image``, warm and in a fresh interpreter."""
    opens, reads = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        with open_filesystems(image) as files:
            opened = time.perf_counter()
            count, total = read_everything(files)
            done = time.perf_counter()
        opens.append(opened - started)
        reads.append(done - opened)
    print(f"image: {image} ({image.stat().st_size / 2**20:.0f} MiB)")
    print(f"files read: {count}, {total / 2**20:.2f} MiB")
    print(f"open (volumes, root, fstab): median {statistics.median(opens):.3f} s")
    print(f"reads:                      median {statistics.median(reads):.3f} s")
    code = (
        "import sys, time; t = time.perf_counter(); sys.path.insert(0, sys.argv[1]);"
        "from bench.bench_fs import read_everything; from images.fs import open_filesystems;"
        "f = open_filesystems(sys.argv[2]); read_everything(f); f.close();"
        "print(time.perf_counter() - t)"
    )
    root = str(Path(__file__).resolve().parent.parent)
    started = time.perf_counter()
    inner = subprocess.run(
        [sys.executable, "-c", code, root, str(image)], capture_output=True, text=True, check=True
    )
    outer = time.perf_counter() - started
    cold = float(inner.stdout.strip())
    verdict = "OK" if outer < TARGET_SECONDS else "OVER TARGET"
    print(
        f"fresh interpreter: {cold:.3f} s imports+open+reads, {outer:.3f} s process "
        f"(target < {TARGET_SECONDS} s): {verdict}"
    )


def _compare(rounds: int) -> None:
    """Time the candidate libraries that are installed on file systems built here."""
    from tests.test_images_fs_support import MIB, mkfs

    with tempfile.TemporaryDirectory(prefix="vmcert-bench-fs-") as tmp:
        work = Path(tmp)
        tree = work / "tree"
        (tree / "etc/ssh").mkdir(parents=True)
        (tree / "etc/ssh/sshd_config").write_text("PermitRootLogin no\n" * 50)
        (tree / "var/many").mkdir(parents=True)
        for i in range(3000):
            (tree / f"var/many/f{i:05d}").write_text(f"{i}\n")
        (tree / "var/big").write_bytes(os.urandom(MIB) * 8)
        want = hashlib.sha256((tree / "var/big").read_bytes()).hexdigest()
        images = {
            "ext4": mkfs("ext4", tree, work / "ext4.img", 128 * MIB),
            "xfs": mkfs("xfs", tree, work / "xfs.img", 128 * MIB),
        }
        for label, fn in _candidates(images, want).items():
            times = []
            try:
                for _ in range(rounds):
                    started = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - started)
                print(f"{label:28s} {statistics.median(times) * 1000:8.1f} ms")
            except ImportError as exc:
                print(f"{label:28s} not installed ({exc.name})")


def _candidates(images: dict[str, Path], want: str) -> dict[str, object]:
    def ours(kind: str) -> None:
        with open_filesystems(images[kind], root="disk") as files:
            files.read_file("/etc/ssh/sshd_config")
            assert len(files.list_dir("/var/many")) == 3000
            assert hashlib.sha256(files.read_file("/var/big")).hexdigest() == want

    def libyal(module: str, kind: str) -> None:
        lib = __import__(module)
        volume = lib.volume()
        with open(images[kind], "rb") as handle:
            volume.open_file_object(handle)
            entry = volume.get_file_entry_by_path("/etc/ssh/sshd_config")
            entry.read_buffer(entry.size)
            assert len(list(volume.get_file_entry_by_path("/var/many").sub_file_entries)) == 3000
            big = volume.get_file_entry_by_path("/var/big")
            assert hashlib.sha256(big.read_buffer(big.size)).hexdigest() == want

    def tsk_direct() -> None:
        import pytsk3  # type: ignore[import-untyped]

        fs = pytsk3.FS_Info(pytsk3.Img_Info(str(images["ext4"])))
        handle = fs.open("/etc/ssh/sshd_config")
        handle.read_random(0, handle.info.meta.size)
        assert len(list(fs.open_dir("/var/many"))) >= 3000
        big = fs.open("/var/big")
        assert hashlib.sha256(big.read_random(0, big.info.meta.size)).hexdigest() == want

    def ext4_package() -> None:
        import ext4  # type: ignore[import-not-found]

        with open(images["ext4"], "rb") as handle:
            volume = ext4.Volume(handle)
            volume.inode_at("/etc/ssh/sshd_config").open().read()
            assert len(list(volume.inode_at("/var/many").opendir())) >= 3000
            data = volume.inode_at("/var/big").open().read()
            assert hashlib.sha256(data).hexdigest() == want

    return {
        "images.fs ext4 (pytsk3)": lambda: ours("ext4"),
        "images.fs xfs (libfsxfs)": lambda: ours("xfs"),
        "pytsk3 ext4 (direct)": tsk_direct,
        "libfsext (direct)": lambda: libyal("pyfsext", "ext4"),
        "libfsxfs (direct)": lambda: libyal("pyfsxfs", "xfs"),
        "ext4 package (pure Python)": ext4_package,
    }


def main() -> None:
    """Command line: ``python bench/bench_fs.py [--image PATH] [--rounds N] [--compare]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, help="image to read (default: cached test image)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="also time candidate libraries")
    args = parser.parse_args()
    bench_image(args.image or sample_image(), args.rounds)
    if args.compare:
        _compare(args.rounds)


if __name__ == "__main__":
    main()
