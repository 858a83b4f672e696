"""Checks for LISA AzureImageStandard cases that apply off Azure and vmcert had no check for:
essential kernel modules, OMI version, cloud-init's error status, the Hyper-V KVP daemon.

Each follows the LISA case it is named after (microsoft/lisa,
``lisa/microsoft/testsuites/core/azure_image_standard.py``); where LISA runs a case only on
some distributions, the check says so instead of judging the others.
"""

from __future__ import annotations

from checks.common import ONLINE, clip, version_ge
from checks.facts.cloud_init_status import FACT as CLOUD_INIT_STATUS
from checks.facts.hv_kvp import FACT as HV_KVP
from checks.facts.kernel_config import FACT as KERNEL_CONFIG
from checks.facts.omi import FACT as OMI
from checks.facts.os_release import FACT as OS_RELEASE
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


@check(
    id="essential_kernel_modules",
    title="Kernel has the watchdog and CIFS support Azure needs",
    area="kernel",
    severity=Severity.FAIL,
    required="CONFIG_WATCHDOG and CONFIG_CIFS built in or modules",
    facts=[KERNEL_CONFIG],
    params={"options": ["CONFIG_WATCHDOG", "CONFIG_CIFS"]},
    tags=ONLINE,
)
def essential_kernel_modules(facts: Facts, params: Params) -> Outcome:
    """LISA's ``verify_essential_kernel_modules``: the modules ``wdt`` (CONFIG_WATCHDOG) and
    ``cifs`` (CONFIG_CIFS) are enabled (``y`` or ``m``) in the running kernel's configuration."""
    config = facts.require(KERNEL_CONFIG)
    if config.source == "none":
        return Outcome(Status.ERROR, "no kernel configuration", "no /boot/config-* or config.gz")
    wanted = params.texts("options")
    missing = [o for o in wanted if not config.enabled(o)]
    actual = ", ".join(f"{o}={config.options.get(o, 'absent')}" for o in wanted)
    if missing:
        return Outcome(Status.FAIL, actual, f"not enabled: {', '.join(missing)} ({config.source})")
    return Outcome(Status.PASS, actual, f"enabled in {config.source}")


@check(
    id="omi_version",
    title="OMI, if installed, is not vulnerable (OMIGOD)",
    area="packages",
    severity=Severity.FAIL,
    required="OMI absent or ≥ {min_version}",
    facts=[OMI],
    params={"min_version": "1.6.8.1"},
    tags=ONLINE,
)
def omi_version(facts: Facts, params: Params) -> Outcome:
    """LISA's ``verify_omi_version``: OMI older than 1.6.8.1 has the OMIGOD vulnerabilities
    (CVE-2021-38647 and others); absent OMI passes, an unreadable version fails."""
    omi = facts.require(OMI)
    if not omi.installed:
        return Outcome(Status.PASS, "not installed", "OMI is not installed")
    minimum = params.text("min_version")
    if omi.version is None:
        return Outcome(Status.FAIL, omi.text[:100], "OMI is installed but its version is unknown")
    if version_ge(omi.version, minimum):
        return Outcome(Status.PASS, omi.version, f"OMI {omi.version}")
    return Outcome(Status.FAIL, omi.version, f"vulnerable OMI {omi.version} (< {minimum})")


@check(
    id="cloud_init_error_status",
    title="cloud-init finished without errors",
    area="system",
    severity=Severity.FAIL,
    required="cloud-init status 0 and no [ERROR]/[WARNING] in cloud-init.log",
    facts=[CLOUD_INIT_STATUS, OS_RELEASE],
    params={"families": ["azurelinux"]},
    tags=ONLINE,
)
def cloud_init_error_status(facts: Facts, params: Params) -> Outcome:
    """LISA's ``verify_cloud_init_error_status``: no ``[ERROR]``/``[WARNING]`` line in
    /var/log/cloud-init.log and ``cloud-init status`` exits 0. LISA runs it only on Azure Linux
    (CBL-Mariner); ``families`` says where vmcert judges it (elsewhere: skipped)."""
    os_release = facts.get(OS_RELEASE)
    family = os_release.family if os_release is not None else "unknown"
    if family not in params.texts("families"):
        return Outcome(Status.SKIPPED, family, "LISA runs this case only on Azure Linux")
    status = facts.require(CLOUD_INIT_STATUS)
    if not status.present:
        return Outcome(Status.SKIPPED, "cloud-init not installed", "no cloud-init to judge")
    actual = f"status {status.status or '?'} (exit {status.status_rc})"
    if status.log_problems:
        return Outcome(
            Status.FAIL,
            actual,
            f"{len(status.log_problems)} [ERROR]/[WARNING] line(s) in cloud-init.log",
            clip(status.log_problems),
        )
    if status.status_rc not in (0, None):
        return Outcome(Status.FAIL, actual, "cloud-init status reports an error")
    return Outcome(Status.PASS, actual, "cloud-init finished cleanly")


@check(
    id="hv_kvp_daemon",
    title="Hyper-V KVP daemon installed and enabled",
    area="system",
    severity=Severity.FAIL,
    required="hv_kvp_daemon installed and its unit enabled (Azure Linux)",
    facts=[HV_KVP, OS_RELEASE],
    params={"required_families": ["azurelinux"]},
    tags=ONLINE,
)
def hv_kvp_daemon(facts: Facts, params: Params) -> Outcome:
    """LISA's ``verify_hv_kvp_daemon_installed`` needs the daemon running on Azure Linux and
    passes Debian-family images without it (on Hyper-V hosts only). Off Hyper-V the daemon does
    not start (its unit's ``ConditionVirtualization=microsoft``), so vmcert asks for what makes it
    run there: the binary installed and its unit enabled, on ``required_families``; elsewhere
    its absence passes with a note, as in LISA."""
    kvp = facts.require(HV_KVP)
    os_release = facts.get(OS_RELEASE)
    family = os_release.family if os_release is not None else "unknown"
    units = ", ".join(f"{name} {state}" for name, state in kvp.units) or "no unit"
    actual = f"{', '.join(kvp.binaries) or 'no binary'}; {units}"
    if kvp.binaries and kvp.enabled:
        return Outcome(Status.PASS, actual, "the KVP daemon starts on Hyper-V")
    if family in params.texts("required_families"):
        return Outcome(Status.FAIL, actual, "the KVP daemon is not installed and enabled")
    return Outcome(Status.PASS, actual, f"not required on {family} (LISA passes it too)")
