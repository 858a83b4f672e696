"""Kernel and boot area: command line, architecture, SACK, NUMA, initramfs, modules, console."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.common import BOTH, ONLINE, clip, version_ge
from checks.facts.bootloader_config import FACT as BOOTLOADER_CONFIG
from checks.facts.bootloader_config import BootloaderConfig
from checks.facts.cmdline import FACT as CMDLINE
from checks.facts.cmdline import Cmdline
from checks.facts.dmesg import FACT as DMESG
from checks.facts.initramfs_modules import FACT as INITRAMFS_MODULES
from checks.facts.modprobe_blacklist import FACT as MODPROBE_BLACKLIST
from checks.facts.os_release import FACT as OS_RELEASE
from checks.facts.os_release import OsRelease
from checks.facts.uname import FACT as UNAME
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


def _arch(facts: Facts) -> str:
    """``uname -m``; ``""`` when uname was not collected (a context fact for the console)."""
    uname = facts.get(UNAME)
    return uname.machine if uname is not None else ""


def _os_release(facts: Facts) -> OsRelease:
    """The os-release fact; empty (family ``unknown``) when it was not collected."""
    return facts.get(OS_RELEASE) or OsRelease()


@check(
    id="kernel_cmdline_console",
    title="Kernel parameters console and earlyprintk on the serial port",
    area="kernel",
    severity=Severity.FAIL,
    required="console=ttyS0#earlyprintk=ttyS0",
    facts=[CMDLINE, UNAME],
    ms_test_name="Required Kernel Parameters",
    selftest_id=40,
    tags=BOTH,
)
def kernel_cmdline_console(facts: Facts, params: Params) -> Outcome:
    """The running kernel's command line has ``console=ttyS0`` and ``earlyprintk=ttyS0`` (a
    ``,115200`` suffix is allowed). On arm64 the console is ``ttyAMA0`` (LISA's
    ``verify_serial_console_is_enabled``) and only ``console=`` is required: ``earlyprintk`` is an
    x86 parameter (the kernel's kernel-parameters.txt lists it under [X86]; arm64 has
    ``earlycon``), so an arm64 image cannot carry it."""
    cmdline = facts.require(CMDLINE)
    arm64 = _arch(facts) in ("aarch64", "arm64")
    port = "ttyAMA0" if arm64 else "ttyS0"
    params_needed = ("console",) if arm64 else ("console", "earlyprintk")
    missing = []
    for param in params_needed:
        values = cmdline.values(param)
        if not any(v == port or v.startswith(port + ",") for v in values):
            missing.append(f"{param}={port}")
    if missing:
        return Outcome(
            Status.FAIL,
            cmdline.text,
            "Missing Parameter: " + ", ".join(missing),
            required="#".join(f"{p}={port}" for p in params_needed),
        )
    if arm64:
        return Outcome(Status.PASS, cmdline.text, f"console={port} (arm64: no earlyprintk)")
    return Outcome(Status.PASS, cmdline.text, "console and earlyprintk point at the serial port")


@check(
    id="kernel_cmdline_rootdelay",
    title="Kernel parameter rootdelay=300",
    area="kernel",
    severity=Severity.WARNING,
    required="rootdelay=300 ({mode})",
    facts=[CMDLINE],
    params={"mode": "not-required"},
    profiles={"selftest": {"mode": "warn"}},
    ms_test_name="Required Kernel Parameters",
    selftest_id=40,
    tags=BOTH,
)
def kernel_cmdline_rootdelay(facts: Facts, params: Params) -> Outcome:
    """``rootdelay=300`` was required until Nov 2021 (docs PR #84525 removed it); the self-test
    still warns when it is missing. ``mode``: ``not-required`` (marketplace: reported, never
    warns) or ``warn`` (selftest profile: a warning when missing)."""
    cmdline = facts.require(CMDLINE)
    actual = next((f"rootdelay={v}" for v in cmdline.values("rootdelay")), "absent")
    if "rootdelay=300" in cmdline:
        return Outcome(Status.PASS, actual, "rootdelay=300 is set")
    if params.text("mode") == "warn":
        return Outcome(Status.WARNING, actual, "Missing Parameter: rootdelay=300")
    return Outcome(
        Status.PASS, actual, "rootdelay=300 absent: no longer required since Nov 2021 (PR #84525)"
    )


@check(
    id="os_arch_64bit",
    title="64-bit operating system",
    area="kernel",
    severity=Severity.FAIL,
    required="x86_64,amd64",
    facts=[UNAME],
    params={"allowed": ["x86_64", "amd64", "aarch64"]},
    ms_test_name="OS Architecture",
    selftest_id=49,
    tags=BOTH,
)
def os_arch_64bit(facts: Facts, params: Params) -> Outcome:
    """Only 64-bit operating systems are supported (``uname -m``)."""
    arch = facts.require(UNAME).machine
    if not arch:
        return Outcome(Status.ERROR, "", "uname -m printed nothing")
    if arch in params.texts("allowed"):
        return Outcome(Status.PASS, arch, "64-bit")
    return Outcome(Status.FAIL, arch, f"architecture {arch} is not supported")


# Minimum kernels with the SACK fix (CVE-2019-11477/78/79) per distribution release and kernel
# series. "S1" rows are S1's table as quoted in azure-certification.md §1a; the others come from
# the vendor's advisory for the same CVEs (named in each row). S1 lists single minor releases
# only, so a release it omits (RHEL 7.8, 8.6, SLES 12 SP5) must not fall through to the upstream
# stable floors, which vendor kernels (3.10, 4.12, 4.18) never match.
RHEL_LIKE = ("rhel", "centos", "almalinux", "rocky", "ol")


@dataclass(frozen=True)
class SackFloor:
    """The first fixed kernel of one series on one distribution release."""

    distros: tuple[str, ...]
    """os-release ``ID`` values."""
    version: str
    """``VERSION_ID`` or its prefix (``8`` matches ``8.6``; the longest match wins)."""
    series: str
    """Kernel series (``4.18``) the floor applies to."""
    floor: str
    source: str
    cloud: bool | None = None
    """Ubuntu only: the floor is for a cloud flavour (ABI ≥ 1000, ``-azure``), not ``generic``."""


SACK_FLOORS: tuple[SackFloor, ...] = (
    SackFloor(("ubuntu",), "16.04", "4.15", "4.15.0-1049", "S1", cloud=True),
    SackFloor(("ubuntu",), "16.04", "4.15", "4.15.0-52", "USN-4017-1", cloud=False),
    SackFloor(("ubuntu",), "16.04", "4.4", "4.4.0-151", "USN-4017-1"),
    SackFloor(("ubuntu",), "18.04", "4.18", "4.18.0-1023", "S1", cloud=True),
    SackFloor(("ubuntu",), "18.04", "5.0", "5.0.0-1025", "S1", cloud=True),
    # 18.04's linux-azure-4.15 is the tree S1 lists for 16.04 (4.15.0-1049); generic 4.15.0-52
    SackFloor(("ubuntu",), "18.04", "4.15", "4.15.0-1049", "S1 (linux-azure 4.15)", cloud=True),
    SackFloor(("ubuntu",), "18.04", "4.15", "4.15.0-52", "USN-4017-1", cloud=False),
    SackFloor(RHEL_LIKE, "7", "3.10", "3.10.0-957.21.3", "RHSA-2019:1481 (S1: 7.6)"),
    SackFloor(RHEL_LIKE, "7.7", "3.10", "3.10.0-1062.1.1", "S1"),
    SackFloor(RHEL_LIKE, "8", "4.18", "4.18.0-80.4.2", "RHSA-2019:1479 (S1: 8.0)"),
    SackFloor(RHEL_LIKE, "8.1", "4.18", "4.18.0-147", "S1"),
    SackFloor(("sles", "sles_sap"), "15", "4.12", "4.12.14-5.30.1", "S1"),
    # SP5 shipped in Dec 2019, after the June 2019 fix: every SP5 kernel (4.12.14-120 default,
    # 4.12.14-16 azure) carries it (SUSE's CVE-2019-11477 page lists SP5 as not affected)
    SackFloor(("sles", "sles_sap"), "12.5", "4.12", "4.12.14-16", "SUSE CVE-2019-11477"),
    SackFloor(("debian",), "9", "4.9", "4.9.168-1+deb9u3", "S1"),
    SackFloor(("debian",), "10", "4.19", "4.19.37-5", "S1"),
)
# Upstream: fixed in mainline 5.2 and in the stable series below (first fixed release each).
SACK_UPSTREAM: dict[str, str] = {
    "4.4": "4.4.182",
    "4.9": "4.9.182",
    "4.14": "4.14.127",
    "4.19": "4.19.52",
    "5.1": "5.1.11",
}


def _series(version: str) -> str:
    m = re.match(r"(\d+\.\d+)", version)
    return m.group(1) if m else ""


def _version_matches(version_id: str, prefix: str) -> bool:
    return version_id == prefix or version_id.startswith(prefix + ".")


def sack_floor(distro: str, version_id: str, release: str) -> SackFloor | None:
    """The most specific floor for this distribution release and kernel (None: not listed)."""
    abi = re.match(r"\d+\.\d+\.\d+-(\d+)", release)
    cloud = abi is not None and int(abi.group(1)) >= 1000
    rows = [
        row
        for row in SACK_FLOORS
        if distro in row.distros
        and _version_matches(version_id, row.version)
        and row.series == _series(release)
        and (row.cloud is None or row.cloud == cloud)
    ]
    return max(rows, key=lambda row: len(row.version), default=None)


@check(
    id="sack_kernel_patch",
    title="Kernel has the TCP SACK fix",
    area="kernel",
    severity=Severity.FAIL,
    required="kernel ≥ the distribution's SACK-fixed version (upstream ≥ 5.2)",
    facts=[UNAME, OS_RELEASE],
    needs_all_facts=True,
    ms_test_name="SACK Vulnerability patch verification",
    selftest_id=52,
    tags=BOTH,
)
def sack_kernel_patch(facts: Facts, params: Params) -> Outcome:
    """The running kernel must be at least the SACK-fixed version for its distribution release and
    kernel series (:data:`SACK_FLOORS`: S1's table and the vendors' advisories). Kernels of series
    5.2 or later carry the fix upstream; a kernel no row covers is compared with the first fixed
    upstream stable release of its series. Debian kernels are compared by package version (from
    ``uname -v``), the others by ``uname -r``."""
    uname = facts.require(UNAME)
    release = uname.release
    os_release = facts.require(OS_RELEASE)
    distro, version_id = os_release.id, os_release.version_id
    actual = f"{distro} {version_id} kernel {release}"
    compare = release
    if distro == "debian" and uname.debian_package is not None:
        compare = uname.debian_package
        actual += f" (package {compare})"
    major_minor = tuple(int(x) for x in _series(release).split(".")) if _series(release) else ()
    if major_minor and major_minor >= (5, 2):
        return Outcome(Status.PASS, actual, "kernel series ≥ 5.2 carries the SACK fix upstream")
    row = sack_floor(distro, version_id, release)
    if row is not None:
        required = f"≥ {row.floor}"
        if version_ge(compare, row.floor):
            return Outcome(Status.PASS, actual, f"≥ {row.floor} ({row.source})", required=required)
        return Outcome(
            Status.FAIL, actual, f"older than {row.floor} ({row.source})", required=required
        )
    fixed = SACK_UPSTREAM.get(_series(release))
    if fixed is None:
        return Outcome(Status.FAIL, actual, "kernel series predates every SACK-fixed release")
    floor = fixed
    upstream = re.match(r"\d+\.\d+\.\d+", release)
    if upstream and version_ge(upstream.group(0), floor):
        return Outcome(Status.PASS, actual, f"≥ upstream {floor}", required=f"≥ {floor}")
    return Outcome(
        Status.FAIL,
        actual,
        f"no distribution floor for this release and older than upstream {floor}",
        required=f"≥ {floor}",
    )


@check(
    id="numa_off_old_kernels",
    title="numa=off on old kernels",
    area="kernel",
    severity=Severity.FAIL,
    required="numa=off when kernel < 2.6.37 (RHEL < 2.6.32-504)",
    facts=[UNAME, CMDLINE],
    needs_all_facts=True,
    tags=ONLINE,
)
def numa_off_old_kernels(facts: Facts, params: Params) -> Outcome:
    """Custom kernels older than 2.6.37, or RHEL kernels older than 2.6.32-504, must boot with
    ``numa=off`` (S9). Newer kernels pass without it."""
    release = facts.require(UNAME).release
    os_release = _os_release(facts)  # context: judged as a custom kernel when not collected
    rhel_like = os_release.id in ("rhel", "centos", "ol") or "rhel" in os_release.id_like
    floor = "2.6.32-504" if rhel_like else "2.6.37"
    if version_ge(release, floor):
        return Outcome(Status.PASS, release, f"kernel ≥ {floor}: numa=off not needed")
    if "numa=off" in facts.require(CMDLINE):
        return Outcome(Status.PASS, release, "old kernel booted with numa=off")
    return Outcome(Status.FAIL, release, f"kernel older than {floor} without numa=off")


_ATA = ("libata.atapi_enabled=0", "reserve=0x1f0,0x8")
_ENTRY = re.compile(
    r"^\s*(?:(linux|linuxefi|linux16|kernel)\s+\S+|append|APPEND|options|kernelopts=|"
    r"set\s+kernelopts=)\s*(.*)$"
)


def _loader(path: str) -> str:
    """Which boot loader reads a configuration file: ``extlinux``, ``systemd-boot`` (its
    ``loader.conf`` and the entries on an ESP mounted at ``/boot/efi`` or ``/efi``, or on an
    unmounted one, ``p1:/loader/entries/…``), ``bls`` (``/boot/loader/entries``: GRUB's blscfg,
    or systemd-boot when ``/boot`` is its partition) or ``grub``."""
    if path.endswith(("extlinux.conf", "syslinux.cfg")):
        return "extlinux"
    if path.endswith("/loader.conf") or (
        "/loader/entries/" in path and not path.startswith("/boot/loader/")
    ):
        return "systemd-boot"
    return "bls" if "/loader/entries/" in path else "grub"


_GROUPS = {
    "grub": {"grub", "bls"},
    "bls": {"grub", "bls"},
    "extlinux": {"extlinux"},
    "systemd-boot": {"systemd-boot", "bls"},
}


def _loaders_in_use(configs: BootloaderConfig, cmdline: Cmdline | None) -> set[str]:
    """The loaders whose files boot the image. systemd-boot's own word decides first
    (``LoaderInfo`` online, the default entry offline: :attr:`BootloaderConfig.systemd_boot`):
    it reads its ESP entries and ``/boot/loader/entries``. Otherwise the loader whose boot entry
    gave the running command line: an entry holds when each of its concrete arguments (``$var``
    left out) is in the command line; GRUB and its BLS entries count as one (blscfg). When no
    entry holds, or entries of two loaders do, every loader counts: only a clear answer lets a
    file be discounted. systemd-boot's files never count once it is known not to be the loader."""
    if configs.systemd_boot:
        return _GROUPS["systemd-boot"]
    every = {"grub", "bls", "extlinux"} | (
        set() if configs.systemd_boot is False else {"systemd-boot"}
    )
    if cmdline is None:
        return every
    running = set(cmdline.params)
    held: set[str] = set()
    for config in configs.files:
        loader = _loader(config.path)
        if loader not in every:
            continue
        for line in config.lines:
            m = _ENTRY.match(line)
            words = [w.strip("\"'") for w in (m.group(2).split() if m else [])]
            concrete = [w for w in words if w and "$" not in w]
            if concrete and set(concrete) <= running:
                held.add("grub" if loader == "bls" else loader)
    if len(held) != 1:
        return every
    return _GROUPS[held.pop()]


@check(
    id="grub_no_ata_params",
    title="Boot-loader config has no legacy ATA parameters",
    area="kernel",
    severity=Severity.FAIL,
    required="no libata.atapi_enabled=0 or reserve=0x1f0,0x8",
    facts=[BOOTLOADER_CONFIG, CMDLINE],
    tags=BOTH,
)
def grub_no_ata_params(facts: Facts, params: Params) -> Outcome:
    """Neither ``libata.atapi_enabled=0`` nor ``reserve=0x1f0,0x8`` may appear in the running
    command line or in the configuration of the boot loader that boots the image (grub,
    grubenv, ``/etc/default/grub``, BLS entries, extlinux/syslinux). The loader in use is the one
    whose entry gave the running command line (:func:`_loaders_in_use`); a stale file of another
    loader is named in the message but never boots, so it does not fail the image."""
    hits: list[str] = []
    ignored: list[str] = []
    configs = facts.get(BOOTLOADER_CONFIG) or BootloaderConfig()
    cmdline = facts.get(CMDLINE)
    in_use = _loaders_in_use(configs, cmdline)
    for config in configs.files:
        for line in config.lines:
            if any(bad in line for bad in _ATA):
                found = f"{config.path}: {line.strip()}"
                (hits if _loader(config.path) in in_use else ignored).append(found)
    for bad in _ATA:
        if cmdline is not None and bad in cmdline:
            hits.append(f"/proc/cmdline: {bad}")
    files = ", ".join(config.path for config in configs.files if config.path) or "none found"
    if hits:
        return Outcome(Status.FAIL, hits[0], "legacy ATA parameters configured", clip(hits))
    if ignored:
        loader = "extlinux" if in_use == {"extlinux"} else "GRUB"
        loader = "systemd-boot" if "systemd-boot" in in_use else loader
        return Outcome(
            Status.PASS,
            "absent",
            f"absent from {loader}, which boots the image; not used: {ignored[0]}",
            clip(ignored),
        )
    return Outcome(Status.PASS, "absent", f"checked: {files}")


@check(
    id="serial_console_enabled",
    title="Serial console is enabled",
    area="kernel",
    severity=Severity.FAIL,
    required="boot log has `console [ttyS0] enabled`",
    facts=[DMESG],
    tags=ONLINE,
)
def serial_console_enabled(facts: Facts, params: Params) -> Outcome:
    """The kernel log shows the serial console enabled (``ttyAMA0`` accepted on arm64)."""
    lines = facts.require(DMESG).console
    if lines:
        return Outcome(Status.PASS, lines[0].strip(), "serial console enabled")
    return Outcome(Status.FAIL, "no `console [ttyS0] enabled` line", "serial console not enabled")


_MODULE = re.compile(r"(?:blacklist|install)\s+(udf|vfat)\b")
# An install command loads the module only through modprobe --ignore-install (-i) or insmod;
# anything else (/bin/true, /bin/false, echo, exit) replaces the load and blocks it.
_LOADS = re.compile(r"\b(modprobe\b.*(--ignore-install|\s-i\b)|insmod\b)")


@check(
    id="udf_vfat_enabled",
    title="UDF and vfat modules are not blocklisted",
    area="kernel",
    severity=Severity.FAIL,
    required="udf and vfat loadable (no blacklist/install override, none on the command line)",
    facts=[MODPROBE_BLACKLIST, CMDLINE],
    tags=BOTH,
)
def udf_vfat_enabled(facts: Facts, params: Params) -> Outcome:
    """Blocklisting ``udf`` breaks provisioning (the provisioning medium is UDF), ``vfat`` breaks
    provisioning and boot (S9). Every source modprobe and the kernel read counts: a
    ``blacklist`` line, or an ``install`` line whose command does not load the module
    (``modprobe --ignore-install``/``insmod``), in the modprobe.d file modprobe reads for that
    name (/etc shadows /run and the vendor directories); and ``modprobe.blacklist=`` or
    ``module_blacklist=`` on the kernel command line."""
    hits = []
    for line in facts.require(MODPROBE_BLACKLIST).lines:
        blocks_load = line.text.startswith("install") and not _LOADS.search(line.text)
        if line.text.startswith("blacklist") or blocks_load:
            hits.append(f"{line.path}: {line.text}")
    cmdline = facts.get(CMDLINE)
    if cmdline is not None:
        for param in ("modprobe.blacklist", "module_blacklist"):
            for value in cmdline.values(param):
                for module in value.split(","):
                    if module in ("udf", "vfat"):
                        hits.append(f"/proc/cmdline: {param}={value}")
    if hits:
        mods = sorted(
            {m.group(1) for h in hits if (m := _MODULE.search(h))}
            | {
                mod
                for h in hits
                if h.startswith("/proc/cmdline")
                for mod in ("udf", "vfat")
                if re.search(rf"[=,]{mod}(,|$)", h)
            }
        )
        return Outcome(Status.FAIL, hits[0], f"blocklisted: {', '.join(mods)}", clip(hits))
    return Outcome(Status.PASS, "not blocklisted", "udf and vfat can load")


@check(
    id="hyperv_initramfs",
    title="Hyper-V drivers in the initramfs",
    area="kernel",
    severity=Severity.FAIL,
    required="hv_vmbus and hv_storvsc built in or in the initramfs",
    facts=[INITRAMFS_MODULES],
    tags=BOTH,
)
def hyperv_initramfs(facts: Facts, params: Params) -> Outcome:
    """``hv_vmbus`` and ``hv_storvsc`` must be available at early boot: built into the kernel
    (``modules.builtin``) or present in the running kernel's initramfs (S9)."""
    modules = facts.require(INITRAMFS_MODULES)
    found = {}
    for mod in ("hv_vmbus", "hv_storvsc"):
        if any(f"/{mod}.ko" in line for line in modules.builtin):
            found[mod] = "built in"
        elif any(f"/{mod}.ko" in line for line in modules.initramfs):
            found[mod] = "initramfs"
    missing = [m for m in ("hv_vmbus", "hv_storvsc") if m not in found]
    actual = ", ".join(f"{m}: {w}" for m, w in found.items()) or "none"
    evidence = clip("\n".join(modules.lines).strip().splitlines())
    if missing:
        if modules.image == "none" and not any(line.strip() for line in modules.builtin):
            return Outcome(
                Status.ERROR, actual, "no lsinitramfs/lsinitrd to list the initramfs", evidence
            )
        return Outcome(
            Status.FAIL, actual, f"missing at early boot: {', '.join(missing)}", evidence
        )
    return Outcome(Status.PASS, actual, "Hyper-V storage drivers available at early boot", evidence)
