"""Test-image recipe: a small Debian 12 cloud image as a fixed VHD, plus planted-defect variants.

The good image is built from Debian packages with ``mmdebstrap`` using the host's own apt sources,
filled into an ext4 file system with ``mke2fs -d`` (no mount), made bootable with extlinux on an MBR
disk and converted with ``qemu-img`` to a fixed VHD whose virtual size is a whole number of MiB.
Variants with planted defects are derived from the finished good image by copying it (sparse) and
editing the root file system on a loop mount in a private mount namespace (a few seconds).

Every image is cached under :func:`default_cache_dir` by a hash of this recipe (this module's source
text, the package list and the variant definition), so it is built once. Builds write into a
temporary directory next to the cache entry and rename the finished VHD into place; a lock file
keeps two concurrent builders (two test processes, say) from building the same entry twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError, InputError

__all__ = [
    "PACKAGES",
    "VARIANTS",
    "AptSource",
    "Variant",
    "build_test_image",
    "cached_image_path",
    "default_cache_dir",
    "host_apt_sources",
    "recipe_hash",
]

SUITE = "bookworm"
"""Debian 12."""

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

PARTITION_OFFSET = 1024 * 1024
"""The root partition starts at LBA 2048."""

MIB = 1024 * 1024

REQUIRED_TOOLS: tuple[str, ...] = (
    "mmdebstrap",
    "mke2fs",
    "qemu-img",
    "unshare",
    "mount",
    "umount",
    "chroot",
    "useradd",
    "mkswap",
)

GEN2_TOOLS: tuple[str, ...] = ("debugfs", "mkfs.vfat", "mcopy", "apt-get", "dpkg-deb")
"""Extra tools the gen2 variant needs (it reads the good image and writes a FAT ESP unmounted)."""

INSTALL_HINT = "run `bash scripts/install.sh` as root"


@dataclass(frozen=True)
class Variant:
    """A buildable test image: the good one, or one derived from it with planted defects."""

    name: str
    description: str
    expected_failures: frozenset[str]
    """Check ids that must fail on this image (and no others); empty for ``good``."""


DEFECTIVE_FAILURES = frozenset(
    {
        "bash_history",
        "kernel_cmdline_console",
        "ssh_client_alive_interval",
        "sudoers_no_targetpw",
        "udf_vfat_enabled",
        "waagent_auto_update",
        "no_default_credentials",
        "grub_no_ata_params",
        "no_swap_on_os_disk",
        "generalized",
    }
)

VARIANTS: dict[str, Variant] = {
    "good": Variant(
        name="good",
        description="Debian 12 cloud image prepared to pass every applicable Linux check",
        expected_failures=frozenset(),
    ),
    "defective": Variant(
        name="defective",
        description="the good image with ten planted defects, one per check id",
        expected_failures=DEFECTIVE_FAILURES,
    ),
    "gen2": Variant(
        name="gen2",
        description="the good image as a Generation 2 disk: GPT, EFI system partition, "
        "systemd-boot (boot with OVMF)",
        expected_failures=frozenset(),
    ),
}

# --- configuration written into the good image ------------------------------------------------

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

_CLOUD_CFG = """# vmcert test image: NoCloud seed (the cidata disk) or nothing; networkd does DHCP.
datasource_list: [NoCloud, None]
network: {config: disabled}
locale: C.UTF-8
manage_etc_hosts: true
apt:
  preserve_sources_list: true
ssh_genkeytypes: [ed25519, ecdsa]
"""

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

# --- public helpers ------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """The image cache: ``$VMCERT_CACHE_DIR`` if set, else the user cache dir + ``vmcert``."""
    override = os.environ.get("VMCERT_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir()) / "vmcert"


def recipe_hash(variant: str = "good") -> str:
    """A short hash of what determines the image: this recipe's source, packages and variant."""
    spec = _variant(variant)
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(repr((SUITE, PACKAGES, INITRAMFS_MODULES, KERNEL_CMDLINE)).encode())
    digest.update(repr((spec.name, spec.description, sorted(spec.expected_failures))).encode())
    return digest.hexdigest()[:16]


def cached_image_path(variant: str = "good", cache_dir: Path | None = None) -> Path:
    """Where the VHD of ``variant`` lives in the cache (it may not exist yet)."""
    root = (cache_dir or default_cache_dir()) / "images"
    return root / f"debian12-{variant}-{recipe_hash(variant)}.vhd"


@dataclass(frozen=True)
class AptSource:
    """One Debian apt source taken from the host: a URI with its suites and components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None

    def one_line(self) -> str:
        """The one-line ``deb`` form mmdebstrap takes as a mirror argument."""
        options = f"[signed-by={self.signed_by}] " if self.signed_by else ""
        return f"deb {options}{self.uri} {' '.join(self.suites)} {' '.join(self.components)}"


def host_apt_sources(
    sources_list: Path = Path("/etc/apt/sources.list"),
    sources_dir: Path = Path("/etc/apt/sources.list.d"),
) -> list[AptSource]:
    """The host's Debian ``bookworm*`` sources (deb822 ``*.sources`` and one-line lists).

    Mirror host names come from the host's configuration only; the recipe never names one. When
    the host has no ``-security`` or ``-updates`` suite the conventional layout is derived from the
    main mirror URI (``…/debian`` → ``…/debian-security``).
    """
    found: list[AptSource] = []
    files = [sources_list] if sources_list.is_file() else []
    if sources_dir.is_dir():
        files += sorted(sources_dir.glob("*.list")) + sorted(sources_dir.glob("*.sources"))
    for path in files:
        text = path.read_text(errors="replace")
        found += _parse_deb822(text) if path.suffix == ".sources" else _parse_one_line(text)
    sources = [s for s in found if s.suites]
    suites = {suite for s in sources for suite in s.suites}
    main = next((s for s in sources if SUITE in s.suites), None)
    if main is None:
        raise InputError(
            f"no '{SUITE}' apt source in {sources_list} or {sources_dir}/*.sources: the test image "
            "is built from the host's Debian mirror; add one (or build on a Debian 12 host)"
        )
    if f"{SUITE}-updates" not in suites:
        sources.append(AptSource(main.uri, (f"{SUITE}-updates",), main.components, main.signed_by))
    if f"{SUITE}-security" not in suites:
        security_uri = main.uri.rstrip("/") + "-security"
        sources.append(
            AptSource(security_uri, (f"{SUITE}-security",), main.components, main.signed_by)
        )
    return sources


def _keep_suites(suites: list[str]) -> tuple[str, ...]:
    allowed = {SUITE, f"{SUITE}-updates", f"{SUITE}-security"}
    return tuple(s for s in suites if s in allowed)


def _parse_deb822(text: str) -> list[AptSource]:
    result = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = _keep_suites(fields.get("suites", "").split())
        components = tuple(fields.get("components", "main").split()) or ("main",)
        signed_by = fields.get("signed-by") or None
        if signed_by and not signed_by.startswith("/"):
            signed_by = None  # an inline key block; the image has the Debian keyring anyway
        for uri in fields.get("uris", "").split():
            result.append(AptSource(uri, suites, components, signed_by))
    return result


def _parse_one_line(text: str) -> list[AptSource]:
    result = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        signed_by = None
        options = re.match(r"deb\s+\[([^\]]*)\]\s*", line)
        if options:
            for opt in options.group(1).split():
                if opt.startswith("signed-by="):
                    signed_by = opt.split("=", 1)[1]
            rest = line[options.end() :].split()
        else:
            rest = line.split()[1:]
        if len(rest) < 2:
            continue
        suites = _keep_suites([rest[1]])
        result.append(AptSource(rest[0], suites, tuple(rest[2:]) or ("main",), signed_by))
    return result


def _image_sources_file(sources: list[AptSource]) -> str:
    """The deb822 ``debian.sources`` written into the image (main, -updates and -security)."""
    stanzas = []
    for source in sources:
        stanzas.append(
            "Types: deb\n"
            f"URIs: {source.uri}\n"
            f"Suites: {' '.join(source.suites)}\n"
            f"Components: {' '.join(source.components)}\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
    return "\n".join(stanzas)


# --- building ------------------------------------------------------------------------------------

Progress = Callable[[str], None]


def build_test_image(
    variant: str = "good",
    *,
    cache_dir: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Build (or reuse) the test image ``variant`` and return the path of its fixed VHD.

    A cached image is returned at once. Otherwise the image is built as root (the good one takes
    about a minute with a warm package cache; a defective one a few seconds more), written to a
    temporary path and renamed into the cache. ``force`` rebuilds even when cached.

    Raises :class:`~harness.errors.InputError` (exit 2) when not root or a tool is missing, and
    :class:`~harness.errors.InfraError` (exit 3) when a build step fails (e.g. the mirror is down).
    """
    spec = _variant(variant)
    say = progress or (lambda _message: None)
    target = cached_image_path(spec.name, cache_dir)
    if target.is_file() and not force:
        return target
    _check_prerequisites(GEN2_TOOLS if spec.name == "gen2" else ())
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.with_suffix(".lock")):
        if target.is_file() and not force:
            return target  # another process built it while we waited for the lock
        _remove_stale_builds(target)
        work = Path(tempfile.mkdtemp(prefix=f".build-{target.stem}-", dir=target.parent))
        log = target.with_suffix(".log")  # kept after the build, for the error message's hint
        log.write_text("")
        try:
            if spec.name == "good":
                started = time.monotonic()
                built = _build_good(work, cache_dir or default_cache_dir(), say, log)
            else:
                good = build_test_image("good", cache_dir=cache_dir, progress=progress)
                started = time.monotonic()
                derive = _derive_gen2 if spec.name == "gen2" else _derive
                built = derive(spec, good, work, say, log)
            os.replace(built, target)
            say(f"{spec.name}: done in {time.monotonic() - started:.0f} s -> {target}")
        finally:
            _safe_rmtree(work)
    return target


def _variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        known = ", ".join(sorted(VARIANTS))
        raise InputError(f"unknown image variant {name!r}; known variants: {known}") from None


def _check_prerequisites(extra_tools: tuple[str, ...] = ()) -> None:
    if os.geteuid() != 0:
        raise InputError(
            "building a test image needs root (mmdebstrap, loop mounts); run it as root "
            "after `bash scripts/install.sh`"
        )
    missing = [
        tool for tool in REQUIRED_TOOLS + extra_tools if not shutil.which(tool, path=_path())
    ]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise InputError(
            f"building a test image needs {', '.join(missing)}, which {verb} not installed; "
            f"{INSTALL_HINT}"
        )


def _path() -> str:
    """PATH plus the sbin directories (root's tools are there; `su` without `-` drops them)."""
    parts = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    extra = [d for d in ("/usr/local/sbin", "/usr/sbin", "/sbin") if d not in parts]
    return os.pathsep.join(parts + extra)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()).rstrip("/") + "/"
    mounts = []
    with open("/proc/self/mounts") as handle:
        for line in handle:
            point = line.split()[1].replace("\\040", " ")
            if point.startswith(prefix) or point == prefix.rstrip("/"):
                mounts.append(point)
    return mounts


def _safe_rmtree(path: Path) -> None:
    """Remove a build directory, but never through a mount point left by a killed build."""
    if not path.exists():
        return
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    if _mounts_under(path):
        return  # refuse: deleting through a bind mount of /dev or /proc would harm the host
    shutil.rmtree(path, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        _safe_rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _remove_stale_builds(target: Path) -> None:
    # Only called with the entry's lock held, so these belong to dead builders of this entry.
    for stale in target.parent.glob(f".build-{target.stem}-*"):
        _safe_rmtree(stale)


def _run(args: list[str], what: str, log: Path | None = None, **kwargs: object) -> str:
    """Run a build step; on failure raise InfraError with the step and the end of its output."""
    kwargs.setdefault("env", {**os.environ, "PATH": _path()})
    proc = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    output = (proc.stdout or "") + (proc.stderr or "")
    if log is not None:
        with open(log, "a") as handle:
            handle.write(f"$ {' '.join(args)}\n{output}\n")
    if proc.returncode != 0:
        tail = " | ".join(line for line in output.strip().splitlines()[-3:])
        hint = f" (full log: {log})" if log else ""
        raise InfraError(f"test image build: {what} failed (exit {proc.returncode}): {tail}{hint}")
    return str(proc.stdout)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _build_good(work: Path, cache_root: Path, say: Progress, log: Path) -> Path:
    sources = host_apt_sources()
    rootfs = work / "rootfs"
    setup = work / "setup"
    debs = cache_root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    # Files that must be in place before the kernel and initramfs-tools are installed.
    _write(setup / "etc/initramfs-tools/conf.d/vmcert.conf", _INITRAMFS_CONF)
    _write(
        setup / "etc/initramfs-tools/hooks/vmcert-modules",
        _INITRAMFS_HOOK.replace("{modules}", " ".join(INITRAMFS_MODULES)),
        0o755,
    )
    for stage, script in (
        ("init-top", _INITRAMFS_ROOTDELAY_TOP),
        ("init-premount", _INITRAMFS_ROOTDELAY_PREMOUNT),
    ):
        _write(setup / f"etc/initramfs-tools/scripts/{stage}/vmcert-rootdelay", script, 0o755)
    _write(setup / "etc/dpkg/dpkg.cfg.d/vmcert-nodoc", _DPKG_NODOC)
    _write(setup / "etc/kernel-img.conf", "do_symlinks = no\n")

    say(f"good: mmdebstrap {SUITE} minbase + {len(PACKAGES)} packages (about a minute)")
    started = time.monotonic()
    _run(
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
    _configure(rootfs, sources, root_uuid, log)
    _prune(rootfs)

    say("good: writing the disk (MBR, ext4 via mke2fs -d, extlinux)")
    raw = work / "disk.raw"
    fs_bytes = _filesystem_size(rootfs)
    disk_bytes = PARTITION_OFFSET + fs_bytes
    with open(raw, "wb") as handle:
        handle.truncate(disk_bytes)
    _run(
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
    _write_mbr(raw, disk_bytes, mbr_code)
    _safe_rmtree(rootfs)

    say("good: converting to a fixed VHD")
    vhd = work / "disk.vhd"
    _run(
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


def _configure(rootfs: Path, sources: list[AptSource], root_uuid: str, log: Path) -> None:
    """Configure and generalize the installed tree."""
    etc = rootfs / "etc"
    boot = rootfs / "boot"
    kernels = sorted(p.name for p in boot.glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise InfraError(f"test image build: expected one kernel in {boot}, found {kernels}")
    kernel = kernels[0]
    initrd = "initrd.img-" + kernel.removeprefix("vmlinuz-")
    if not (boot / initrd).is_file():
        raise InfraError(f"test image build: {boot / initrd} was not generated")

    cmdline = KERNEL_CMDLINE.format(uuid=root_uuid)
    _write(
        boot / "extlinux/extlinux.conf",
        _EXTLINUX_CONF.format(kernel=kernel, initrd=initrd, cmdline=cmdline),
    )
    _write(etc / "fstab", _FSTAB.format(uuid=root_uuid))
    _write(etc / "hostname", "localhost\n")
    _write(etc / "default/locale", "LANG=C.UTF-8\n")

    # apt: the host's mirror with -updates and -security, deb822 only.
    (etc / "apt/sources.list").unlink(missing_ok=True)
    _write(etc / "apt/sources.list.d/debian.sources", _image_sources_file(sources))

    # Network: systemd-networkd with DHCP; cloud-init: NoCloud only.
    _write(etc / "systemd/network/50-dhcp.network", _NETWORKD_DHCP)
    _write(etc / "cloud/cloud.cfg.d/90-vmcert.cfg", _CLOUD_CFG)

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
    # the agent's default (Debian's file says "=n", which the certification test flags).
    conf = etc / "waagent.conf"
    text = conf.read_text()
    for key, value in (
        ("Provisioning.Agent", "cloud-init"),
        ("ResourceDisk.Format", "n"),
        ("ResourceDisk.EnableSwap", "n"),
    ):
        text, count = re.subn(rf"(?m)^#?\s*{re.escape(key)}=.*$", f"{key}={value}", text)
        if count == 0:
            text += f"{key}={value}\n"
    text = re.sub(r"(?m)^\s*AutoUpdate\.Enabled=.*$", "# AutoUpdate.Enabled=y", text)
    conf.write_text(text)

    chroot = ["chroot", str(rootfs)]
    _run([*chroot, "passwd", "--lock", "root"], "locking root's password", log)
    _run(
        ["systemctl", f"--root={rootfs}", "enable", "systemd-networkd.service"],
        "enabling systemd-networkd",
        log,
    )
    _run(
        ["systemctl", f"--root={rootfs}", "enable", "serial-getty@ttyS0.service"],
        "enabling serial-getty@ttyS0",
        log,
    )
    # e2scrub_reap only logs noise on a fresh image; walinuxagent stays enabled (its unit has
    # ConditionVirtualization=microsoft, so it is skipped quietly outside Hyper-V/Azure).
    _run(
        ["systemctl", f"--root={rootfs}", "disable", "e2scrub_reap.service"],
        "disabling e2scrub_reap",
        log,
    )
    # systemd-repart (unused: no repart.d) pulls in modprobe@dm_mod, and loading dm_mod prints a
    # kernel warning about IMA at every boot; masking it keeps dmesg free of warnings.
    _run(
        ["systemctl", f"--root={rootfs}", "mask", "systemd-repart.service"],
        "masking systemd-repart",
        log,
    )

    # Generalize: what `waagent -deprovision` and `cloud-init clean` would remove.
    for host_key in (etc / "ssh").glob("ssh_host_*"):
        host_key.unlink()
    (etc / "resolv.conf").unlink(missing_ok=True)
    _write(etc / "machine-id", "", 0o444)
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for directory in ("var/lib/waagent", "var/lib/cloud", "var/lib/dhcp", "tmp", "var/tmp"):
        path = rootfs / directory
        if path.is_dir():
            for child in path.iterdir():
                _remove(child)
    (rootfs / "root/.bash_history").unlink(missing_ok=True)


def _prune(rootfs: Path) -> None:
    """Drop docs, man pages and locales (dpkg's path-exclude misses what was unpacked before it)."""
    doc = rootfs / "usr/share/doc"
    for package in doc.iterdir() if doc.is_dir() else []:
        for item in package.iterdir() if package.is_dir() and not package.is_symlink() else []:
            if item.name != "copyright":
                _remove(item)
    for directory in ("usr/share/man", "usr/share/info", "usr/share/lintian"):
        _safe_rmtree(rootfs / directory)
    locale = rootfs / "usr/share/locale"
    for item in locale.iterdir() if locale.is_dir() else []:
        if item.name != "locale.alias":
            _remove(item)
    for pattern in ("var/cache/apt/*.bin", "var/cache/debconf/*-old", "var/lib/dpkg/*-old"):
        for path in rootfs.glob(pattern):
            path.unlink()
    _safe_rmtree(rootfs / "var/cache/apt/archives")
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    for log in (rootfs / "var/log").rglob("*"):
        if log.is_file():
            log.unlink()


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
    _run(
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


def _write_mbr(raw: Path, disk_bytes: int, boot_code: bytes) -> None:
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


# --- defective variant ---------------------------------------------------------------------------


def _derive(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """Copy the good VHD (sparse) and plant the variant's defects on a loop mount of the copy."""
    say(f"{spec.name}: copying the good image and planting {len(spec.expected_failures)} defects")
    vhd = work / "disk.vhd"
    _run(["cp", "--sparse=always", str(good), str(vhd)], "copying the good image")
    fs_bytes = vhd.stat().st_size - 512 - PARTITION_OFFSET
    mnt = work / "mnt"
    mnt.mkdir()
    script = (
        'set -e; mount -o loop,offset="$2",sizelimit="$3" "$1" "$4"; rc=0; '
        '"$5" -c "import sys; from images.recipe import _plant; _plant(sys.argv[1], sys.argv[2])"'
        ' "$6" "$4" || rc=$?; umount "$4"; exit $rc'
    )
    _run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(vhd),
            str(PARTITION_OFFSET),
            str(fs_bytes),
            str(mnt),
            sys.executable,
            spec.name,
        ],
        f"planting the {spec.name} defects",
        log,
        env={
            **os.environ,
            "PATH": _path(),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        },
    )
    return vhd


BASH_HISTORY_SIZE = 4096
SWAPFILE_SIZE = 64 * MIB


def _plant(variant: str, root_dir: str) -> None:
    """Plant the defects of ``variant`` into a mounted root file system (runs as root)."""
    if variant != "defective":
        raise InputError(f"no defects are defined for variant {variant!r}")
    root = Path(root_dir)
    etc = root / "etc"

    # bash_history: a 4 KiB root history (the limit is 1 KiB).
    line = b"sudo systemctl status ssh\n"
    history = (line * (BASH_HISTORY_SIZE // len(line) + 1))[:BASH_HISTORY_SIZE]
    (root / "root/.bash_history").write_bytes(history)
    (root / "root/.bash_history").chmod(0o600)

    # kernel_cmdline_console + grub_no_ata_params: both on the bootloader's kernel command line.
    extlinux = root / "boot/extlinux/extlinux.conf"
    text = extlinux.read_text()
    text = re.sub(r" earlyprintk=\S+", "", text)
    text = re.sub(r"(?m)^(\s*APPEND .*)$", r"\1 libata.atapi_enabled=0", text)
    extlinux.write_text(text)

    # ssh_client_alive_interval: 900 in the main sshd_config.
    sshd = etc / "ssh/sshd_config"
    sshd.write_text(
        re.sub(r"(?m)^ClientAliveInterval\b.*$", "ClientAliveInterval 900", sshd.read_text())
    )

    # sudoers_no_targetpw: NOPASSWD rules (the harness user's) still work with it.
    sudoers = etc / "sudoers"
    text = sudoers.read_text()
    text = re.sub(r"(?m)^(Defaults\s+env_reset.*)$", r"\1\nDefaults\ttargetpw", text, count=1)
    if "Defaults\ttargetpw" not in text:
        text = "Defaults\ttargetpw\n" + text
    sudoers.write_text(text)

    # udf_vfat_enabled
    _write(etc / "modprobe.d/vmcert-defect-udf.conf", "blacklist udf\n")

    # waagent_auto_update
    conf = etc / "waagent.conf"
    text = re.sub(r"(?m)^#?\s*AutoUpdate\.Enabled=.*$", "AutoUpdate.Enabled=n", conf.read_text())
    conf.write_text(text)

    # no_default_credentials: a user with a real password hash (and no authorized_keys).
    password_hash = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", "vmcertdefect", "admin"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        ["useradd", "--root", str(root), "-m", "-s", "/bin/bash", "-p", password_hash, "admin"],
        check=True,
        capture_output=True,
    )

    # no_swap_on_os_disk: a 64 MiB swap file activated from fstab. Written with real bytes:
    # swapon refuses files with holes.
    swapfile = root / "swapfile"
    with open(swapfile, "wb") as handle:
        chunk = b"\xa5" * MIB
        for _ in range(SWAPFILE_SIZE // MIB):
            handle.write(chunk)
    swapfile.chmod(0o600)
    subprocess.run(["mkswap", str(swapfile)], check=True, capture_output=True)
    with open(etc / "fstab", "a") as handle:
        handle.write("/swapfile none swap sw 0 0\n")

    # generalized: a DHCP lease and the provisioning agent's ovf-env.xml left behind.
    _write(
        root / "var/lib/dhcp/dhclient.eth0.leases",
        'lease {\n  interface "eth0";\n  fixed-address 10.0.2.15;\n'
        "  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 10.0.2.2;\n"
        "  renew 2 2026/11/24 23:00:00;\n}\n",
    )
    _write(
        root / "var/lib/waagent/ovf-env.xml",
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1">\n'
        "  <!-- left over from a provisioned VM (planted by vmcert) -->\n"
        "</Environment>\n",
        0o600,
    )


# --- gen2 variant ---------------------------------------------------------------------------------

ESP_SIZE = 64 * MIB
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
LINUX_ROOT_X86_64_TYPE = uuid.UUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
GPT_ARRAY_SECTORS = GPT_ENTRIES * GPT_ENTRY_SIZE // 512


def _debugfs(image: Path, request: str, log: Path) -> str:
    return _run(["debugfs", "-R", request, f"{image}?offset={PARTITION_OFFSET}"], request, log)


def _derive_gen2(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """The good root file system behind a GPT with an EFI system partition booting systemd-boot.

    The ext4 partition is copied byte for byte (sparse) from the good image; the ESP holds
    systemd-boot (from Debian's ``systemd-boot-efi`` package, fetched with the host's apt), the
    good image's kernel and initramfs and a loader entry with the same kernel command line. Needs
    mtools and dosfstools besides the good image's tools.
    """
    say(f"{spec.name}: GPT + EFI system partition (systemd-boot) around the good root file system")
    fs_bytes = good.stat().st_size - 512 - PARTITION_OFFSET
    extlinux = _debugfs(good, "cat /boot/extlinux/extlinux.conf", log)
    kernel = re.search(r"(?m)^\s*LINUX\s+(\S+)", extlinux)
    initrd = re.search(r"(?m)^\s*INITRD\s+(\S+)", extlinux)
    append = re.search(r"(?m)^\s*APPEND\s+(.+)$", extlinux)
    if not (kernel and initrd and append):
        raise InfraError(f"test image build: no kernel entry in {good}'s extlinux.conf")
    esp_files = work / "esp"
    esp_files.mkdir()
    _debugfs(good, f"dump {kernel.group(1)} {esp_files / 'vmlinuz'}", log)
    _debugfs(good, f"dump {initrd.group(1)} {esp_files / 'initrd.img'}", log)
    (esp_files / "loader/entries").mkdir(parents=True)
    (esp_files / "loader/loader.conf").write_text("default debian.conf\ntimeout 0\n")
    (esp_files / "loader/entries/debian.conf").write_text(
        "title Debian GNU/Linux 12\nlinux /vmlinuz\ninitrd /initrd.img\n"
        f"options {append.group(1).strip()}\n"
    )
    (esp_files / "EFI/BOOT").mkdir(parents=True)
    shutil.copyfile(_systemd_boot_efi(work, log), esp_files / "EFI/BOOT/BOOTX64.EFI")

    esp = work / "esp.img"
    with open(esp, "wb") as handle:
        handle.truncate(ESP_SIZE)
    _run(["mkfs.vfat", "-F", "32", "-n", "ESP", str(esp)], "mkfs.vfat", log)
    # mtools, not a mount: the FAT file system is written without needing a vfat kernel module.
    _run(
        ["mcopy", "-s", "-i", str(esp), *(str(p) for p in sorted(esp_files.iterdir())), "::/"],
        "filling the EFI system partition (mcopy)",
        log,
    )

    esp_start = PARTITION_OFFSET
    root_start = esp_start + ESP_SIZE
    disk_bytes = root_start + fs_bytes + MIB  # the last MiB holds the backup GPT
    raw = work / "disk.raw"
    with open(raw, "wb") as handle:
        handle.truncate(disk_bytes)
    for source, skip, seek, count in (
        (esp, 0, esp_start, ESP_SIZE),
        (good, PARTITION_OFFSET, root_start, fs_bytes),
    ):
        _run(
            [
                *("dd", f"if={source}", f"of={raw}", "bs=1M", "conv=sparse,notrunc", "status=none"),
                *(f"skip={skip // MIB}", f"seek={seek // MIB}", f"count={count // MIB}"),
            ],
            "copying a partition",
            log,
        )
    _write_gpt(
        raw,
        disk_bytes,
        [
            (ESP_TYPE, esp_start, ESP_SIZE, "EFI system partition"),
            (LINUX_ROOT_X86_64_TYPE, root_start, fs_bytes, "root"),
        ],
    )
    vhd = work / "disk.vhd"
    _run(
        [
            *("qemu-img", "convert", "-f", "raw", "-O", "vpc"),
            *("-o", "subformat=fixed,force_size=on", str(raw), str(vhd)),
        ],
        "qemu-img convert",
        log,
    )
    raw.unlink()
    return vhd


def _systemd_boot_efi(work: Path, log: Path) -> Path:
    """systemd-bootx64.efi from Debian's systemd-boot-efi package (fetched by the host's apt)."""
    debs = work / "deb"
    debs.mkdir()
    _run(
        ["apt-get", "download", "systemd-boot-efi"],
        "apt-get download systemd-boot-efi",
        log,
        cwd=debs,
    )
    package = next(debs.glob("systemd-boot-efi_*.deb"))
    _run(["dpkg-deb", "-x", str(package), str(debs / "x")], "dpkg-deb -x", log)
    return debs / "x/usr/lib/systemd/boot/efi/systemd-bootx64.efi"


def _write_gpt(raw: Path, disk_bytes: int, parts: list[tuple[uuid.UUID, int, int, str]]) -> None:
    """A protective MBR plus primary and backup GPT for ``parts`` (type, offset, size, name)."""
    import zlib

    sectors = disk_bytes // 512
    entries = bytearray(GPT_ENTRIES * GPT_ENTRY_SIZE)
    for index, (type_guid, offset, size, name) in enumerate(parts):
        entry = (
            type_guid.bytes_le
            + uuid.uuid4().bytes_le
            + struct.pack("<QQQ", offset // 512, (offset + size) // 512 - 1, 0)
            + name.encode("utf-16-le").ljust(72, b"\x00")
        )
        entries[index * GPT_ENTRY_SIZE : (index + 1) * GPT_ENTRY_SIZE] = entry
    entries_crc = zlib.crc32(entries)
    disk_guid = uuid.uuid4().bytes_le
    first_usable = 2 + GPT_ARRAY_SECTORS
    last_usable = sectors - 2 - GPT_ARRAY_SECTORS

    def header(current: int, backup: int, array_lba: int) -> bytes:
        fields = struct.pack(
            "<8sIIIIQQQQ16sQIII",
            b"EFI PART",
            0x00010000,
            92,
            0,
            0,
            current,
            backup,
            first_usable,
            last_usable,
            disk_guid,
            array_lba,
            GPT_ENTRIES,
            GPT_ENTRY_SIZE,
            entries_crc,
        )
        crc = zlib.crc32(fields)
        return (fields[:16] + struct.pack("<I", crc) + fields[20:]).ljust(512, b"\x00")

    protective = b"\x00\x00\x02\x00\xee\xff\xff\xff" + struct.pack(
        "<II", 1, min(sectors - 1, 0xFFFFFFFF)
    )
    with open(raw, "r+b") as handle:
        handle.seek(446)
        handle.write(protective + b"\x00" * 48 + b"\x55\xaa")
        handle.seek(512)
        handle.write(header(1, sectors - 1, 2))
        handle.write(entries)
        handle.seek((sectors - 1 - GPT_ARRAY_SECTORS) * 512)
        handle.write(entries)
        handle.write(header(sectors - 1, 1, sectors - 1 - GPT_ARRAY_SECTORS))
