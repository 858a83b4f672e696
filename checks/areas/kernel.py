"""Kernel and boot area: command line, architecture, SACK, NUMA, initramfs, modules, console."""

from __future__ import annotations

import re

from checks.common import BOTH, ONLINE, clip, version_ge
from checks.facts.bootloader_config import FACT as BOOTLOADER_CONFIG
from checks.facts.bootloader_config import BootloaderConfig
from checks.facts.cmdline import FACT as CMDLINE
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
    facts=[CMDLINE],
    ms_test_name="Required Kernel Parameters",
    selftest_id=40,
    tags=BOTH,
)
def kernel_cmdline_console(facts: Facts, params: Params) -> Outcome:
    """The running kernel's command line has ``console=ttyS0`` and ``earlyprintk=ttyS0`` (a
    ``,115200`` suffix is allowed; ``ttyAMA0`` on arm64, as LISA expects)."""
    cmdline = facts.require(CMDLINE)
    port = "ttyAMA0" if _arch(facts) == "aarch64" else "ttyS0"
    missing = []
    for param in ("console", "earlyprintk"):
        values = cmdline.values(param)
        if not any(v == port or v.startswith(port + ",") for v in values):
            missing.append(f"{param}={port}")
    if missing:
        return Outcome(
            Status.FAIL,
            cmdline.text,
            "Missing Parameter: " + ", ".join(missing),
            required=f"console={port}#earlyprintk={port}",
        )
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


# Minimum kernels with the SACK fix (CVE-2019-11477/78/79), S1's table as quoted in
# azure-certification.md §1a: (os-release ID, VERSION_ID prefix) -> minimum per kernel series.
SACK_TABLE: dict[tuple[str, str], list[str]] = {
    ("ubuntu", "16.04"): ["4.15.0-1049"],
    ("ubuntu", "18.04"): ["4.18.0-1023", "5.0.0-1025"],
    ("rhel", "7.6"): ["3.10.0-957.21.3"],
    ("centos", "7.6"): ["3.10.0-957.21.3"],
    ("rhel", "7.7"): ["3.10.0-1062.1.1"],
    ("centos", "7.7"): ["3.10.0-1062.1.1"],
    ("rhel", "8.0"): ["4.18.0-80.4.2"],
    ("rhel", "8.1"): ["4.18.0-147"],
    ("sles", "15"): ["4.12.14-5.30.1"],
    ("debian", "9"): ["4.9.168-1+deb9u3"],
    ("debian", "10"): ["4.19.37-5"],
}
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
    """The running kernel must be at least the SACK-fixed version S1 lists for the distribution.
    Kernels of series 5.2 or later carry the fix upstream; other distributions are compared with
    the first fixed upstream stable release of their series. Debian kernels are compared by
    package version (from ``uname -v``), the others by ``uname -r``."""
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
    for (d, v), minimums in SACK_TABLE.items():
        if d == distro and (version_id == v or version_id.startswith(v + ".")):
            same_series = [m for m in minimums if _series(m) == _series(compare)]
            floor = same_series[0] if same_series else minimums[0]
            if version_ge(compare, floor):
                return Outcome(Status.PASS, actual, f"≥ {floor} (S1 table)", required=f"≥ {floor}")
            return Outcome(
                Status.FAIL, actual, f"older than {floor} (S1 table)", required=f"≥ {floor}"
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
        f"not in S1's table and older than upstream {floor}",
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
    """Neither ``libata.atapi_enabled=0`` nor ``reserve=0x1f0,0x8`` may appear in the boot-loader
    configuration (grub, grubenv, BLS entries, extlinux/syslinux) or the running command line."""
    hits: list[str] = []
    configs = facts.get(BOOTLOADER_CONFIG) or BootloaderConfig()
    for config in configs.files:
        for line in config.lines:
            if any(bad in line for bad in _ATA):
                hits.append(f"{config.path}: {line.strip()}")
    cmdline = facts.get(CMDLINE)
    for bad in _ATA:
        if cmdline is not None and bad in cmdline:
            hits.append(f"/proc/cmdline: {bad}")
    files = ", ".join(config.path for config in configs.files if config.path) or "none found"
    if hits:
        return Outcome(Status.FAIL, hits[0], "legacy ATA parameters configured", clip(hits))
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
_BLOCKING_INSTALL = re.compile(r"install\s+\S+\s+(/bin/|/usr/bin/)?(true|false)\b|/dev/null")


@check(
    id="udf_vfat_enabled",
    title="UDF and vfat modules are not blocklisted",
    area="kernel",
    severity=Severity.FAIL,
    required="udf and vfat loadable (no blacklist/install override)",
    facts=[MODPROBE_BLACKLIST],
    tags=BOTH,
)
def udf_vfat_enabled(facts: Facts, params: Params) -> Outcome:
    """Blocklisting ``udf`` breaks provisioning (the provisioning medium is UDF), ``vfat`` breaks
    provisioning and boot (S9). A ``blacklist`` line or an ``install … /bin/true|false`` line in a
    modprobe.d file fails; an ``install`` that still loads the module is fine."""
    hits = []
    for line in facts.require(MODPROBE_BLACKLIST).lines:
        if line.text.startswith("blacklist") or _BLOCKING_INSTALL.search(line.text):
            hits.append(f"{line.path}: {line.text}")
    if hits:
        mods = sorted({m.group(1) for h in hits if (m := _MODULE.search(h))})
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
