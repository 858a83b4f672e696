"""Kernel and boot area: command line, architecture, SACK, NUMA, initramfs, modules, console."""

from __future__ import annotations

import re

from checks.common import BOTH, ONLINE, clip, key_values, os_info, section, version_ge
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.probes import sections
from checks.registry import check


def _arch(facts: Facts) -> str:
    return key_values(str(facts.get("uname", ""))).get("machine", "")


def _tokens(cmdline: str) -> list[str]:
    return cmdline.split()


@check(
    id="kernel_cmdline_console",
    title="Kernel parameters console and earlyprintk on the serial port",
    area="kernel",
    severity=Severity.FAIL,
    required="console=ttyS0#earlyprintk=ttyS0",
    facts=["cmdline"],
    ms_test_name="Required Kernel Parameters",
    selftest_id=40,
    tags=BOTH,
)
def kernel_cmdline_console(facts: Facts, params: Params) -> Outcome:
    """The running kernel's command line has ``console=ttyS0`` and ``earlyprintk=ttyS0`` (a
    ``,115200`` suffix is allowed; ``ttyAMA0`` on arm64, as LISA expects)."""
    cmdline = str(facts["cmdline"]).strip()
    port = "ttyAMA0" if _arch(facts) == "aarch64" else "ttyS0"
    missing = []
    for param in ("console", "earlyprintk"):
        values = [t.split("=", 1)[1] for t in _tokens(cmdline) if t.startswith(param + "=")]
        if not any(v == port or v.startswith(port + ",") for v in values):
            missing.append(f"{param}={port}")
    if missing:
        return Outcome(
            Status.FAIL,
            cmdline,
            "Missing Parameter: " + ", ".join(missing),
            required=f"console={port}#earlyprintk={port}",
        )
    return Outcome(Status.PASS, cmdline, "console and earlyprintk point at the serial port")


@check(
    id="kernel_cmdline_rootdelay",
    title="Kernel parameter rootdelay=300",
    area="kernel",
    severity=Severity.WARNING,
    required="rootdelay=300 ({mode})",
    facts=["cmdline"],
    params={"mode": "not-required"},
    ms_test_name="Required Kernel Parameters",
    selftest_id=40,
    tags=BOTH,
)
def kernel_cmdline_rootdelay(facts: Facts, params: Params) -> Outcome:
    """``rootdelay=300`` was required until Nov 2021 (docs PR #84525 removed it); the self-test
    still warns when it is missing. ``mode``: ``not-required`` (marketplace: reported, never
    warns) or ``warn`` (selftest profile: a warning when missing)."""
    cmdline = str(facts["cmdline"]).strip()
    present = "rootdelay=300" in _tokens(cmdline)
    actual = next((t for t in _tokens(cmdline) if t.startswith("rootdelay=")), "absent")
    if present:
        return Outcome(Status.PASS, actual, "rootdelay=300 is set")
    if params["mode"] == "warn":
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
    facts=["uname"],
    params={"allowed": ["x86_64", "amd64", "aarch64"]},
    ms_test_name="OS Architecture",
    selftest_id=49,
    tags=BOTH,
)
def os_arch_64bit(facts: Facts, params: Params) -> Outcome:
    """Only 64-bit operating systems are supported (``uname -m``)."""
    arch = _arch(facts)
    if not arch:
        return Outcome(Status.ERROR, "", "uname -m printed nothing")
    if arch in params["allowed"]:
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
    facts=["uname", "os_release"],
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
    kv = key_values(str(facts["uname"]))
    release = kv.get("release", "")
    info = os_info(facts)
    distro, version_id = info.get("ID", ""), info.get("VERSION_ID", "")
    actual = f"{distro} {version_id} kernel {release}"
    compare = release
    if distro == "debian":
        m = re.search(r"Debian (\S+)", kv.get("version", ""))
        if m:
            compare = m.group(1)
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
    facts=["uname", "cmdline"],
    needs_all_facts=True,
    tags=ONLINE,
)
def numa_off_old_kernels(facts: Facts, params: Params) -> Outcome:
    """Custom kernels older than 2.6.37, or RHEL kernels older than 2.6.32-504, must boot with
    ``numa=off`` (S9). Newer kernels pass without it."""
    release = key_values(str(facts["uname"])).get("release", "")
    info = os_info(facts)
    rhel_like = info.get("ID", "") in ("rhel", "centos", "ol") or "rhel" in info.get("ID_LIKE", "")
    floor = "2.6.32-504" if rhel_like else "2.6.37"
    if version_ge(release, floor):
        return Outcome(Status.PASS, release, f"kernel ≥ {floor}: numa=off not needed")
    if "numa=off" in str(facts["cmdline"]).split():
        return Outcome(Status.PASS, release, "old kernel booted with numa=off")
    return Outcome(Status.FAIL, release, f"kernel older than {floor} without numa=off")


_ATA = ("libata.atapi_enabled=0", "reserve=0x1f0,0x8")


@check(
    id="grub_no_ata_params",
    title="Boot-loader config has no legacy ATA parameters",
    area="kernel",
    severity=Severity.FAIL,
    required="no libata.atapi_enabled=0 or reserve=0x1f0,0x8",
    facts=["bootloader_config", "cmdline"],
    tags=BOTH,
)
def grub_no_ata_params(facts: Facts, params: Params) -> Outcome:
    """Neither ``libata.atapi_enabled=0`` nor ``reserve=0x1f0,0x8`` may appear in the boot-loader
    configuration (grub, grubenv, BLS entries, extlinux/syslinux) or the running command line."""
    hits: list[str] = []
    configs = sections(str(facts.get("bootloader_config", "")))
    for path, body in configs.items():
        for line in body.splitlines():
            if any(bad in line for bad in _ATA):
                hits.append(f"{path}: {line.strip()}")
    cmdline = str(facts.get("cmdline", ""))
    for bad in _ATA:
        if bad in cmdline.split():
            hits.append(f"/proc/cmdline: {bad}")
    files = ", ".join(p for p in configs if p) or "none found"
    if hits:
        return Outcome(Status.FAIL, hits[0], "legacy ATA parameters configured", clip(hits))
    return Outcome(Status.PASS, "absent", f"checked: {files}")


@check(
    id="serial_console_enabled",
    title="Serial console is enabled",
    area="kernel",
    severity=Severity.FAIL,
    required="boot log has `console [ttyS0] enabled`",
    facts=["dmesg"],
    tags=ONLINE,
)
def serial_console_enabled(facts: Facts, params: Params) -> Outcome:
    """The kernel log shows the serial console enabled (``ttyAMA0`` accepted on arm64)."""
    lines = (section(facts, "dmesg", "console") or "").strip().splitlines()
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
    facts=["modprobe_blacklist"],
    tags=BOTH,
)
def udf_vfat_enabled(facts: Facts, params: Params) -> Outcome:
    """Blocklisting ``udf`` breaks provisioning (the provisioning medium is UDF), ``vfat`` breaks
    provisioning and boot (S9). A ``blacklist`` line or an ``install … /bin/true|false`` line in a
    modprobe.d file fails; an ``install`` that still loads the module is fine."""
    hits = []
    for line in str(facts["modprobe_blacklist"]).splitlines():
        path, _, text = line.partition(":")
        text = text.strip()
        if text.startswith("blacklist") or _BLOCKING_INSTALL.search(text):
            hits.append(f"{path}: {text}")
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
    facts=["initramfs_modules"],
    tags=BOTH,
)
def hyperv_initramfs(facts: Facts, params: Params) -> Outcome:
    """``hv_vmbus`` and ``hv_storvsc`` must be available at early boot: built into the kernel
    (``modules.builtin``) or present in the running kernel's initramfs (S9)."""
    secs = sections(str(facts["initramfs_modules"]))
    builtin = secs.get("builtin", "")
    initramfs = secs.get("initramfs", "")
    image = key_values(initramfs).get("image", "none")
    found = {}
    for mod in ("hv_vmbus", "hv_storvsc"):
        if f"/{mod}.ko" in builtin:
            found[mod] = "built in"
        elif re.search(rf"/{mod}\.ko", initramfs):
            found[mod] = "initramfs"
    missing = [m for m in ("hv_vmbus", "hv_storvsc") if m not in found]
    actual = ", ".join(f"{m}: {w}" for m, w in found.items()) or "none"
    evidence = clip((builtin + initramfs).strip().splitlines())
    if missing:
        if image == "none" and not builtin.strip():
            return Outcome(
                Status.ERROR, actual, "no lsinitramfs/lsinitrd to list the initramfs", evidence
            )
        return Outcome(
            Status.FAIL, actual, f"missing at early boot: {', '.join(missing)}", evidence
        )
    return Outcome(Status.PASS, actual, "Hyper-V storage drivers available at early boot", evidence)
