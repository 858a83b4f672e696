"""Checks for LISA AzureImageStandard cases that apply off Azure and vmcert had no check for:
essential kernel modules, OMI version, cloud-init's error status, the Hyper-V KVP daemon, the
per-distribution network files.

Each follows the LISA case it is named after (microsoft/lisa,
``lisa/microsoft/testsuites/core/azure_image_standard.py``); where LISA runs a case only on
some distributions, the check says so instead of judging the others.
"""

from __future__ import annotations

from checks.common import BOTH, ONLINE, clip, version_ge
from checks.facts.cloud_init_status import FACT as CLOUD_INIT_STATUS
from checks.facts.hv_kvp import FACT as HV_KVP
from checks.facts.kernel_config import FACT as KERNEL_CONFIG
from checks.facts.network_config import FACT as NETWORK_CONFIG
from checks.facts.network_config import NetworkConfig
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
    # cloud-init exits 0 while it still runs: only a finished cloud-init's 0 is a verdict, and
    # no answer is none (the harness's settle wait may have ended first)
    if status.status_rc is None or not status.status:
        return Outcome(Status.ERROR, actual, "not judged: cloud-init status gave no answer")
    if status.status == "running":
        return Outcome(
            Status.ERROR,
            actual,
            "not judged: cloud-init was still running (its status is not final)",
        )
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
        if kvp.binaries and kvp.systemd_error:
            return Outcome(Status.ERROR, actual, f"systemd did not answer: {kvp.systemd_error}")
        return Outcome(Status.FAIL, actual, "the KVP daemon is not installed and enabled")
    return Outcome(Status.PASS, actual, f"not required on {family} (LISA passes it too)")


def _lisa_network_files(family: str, version: str, config: NetworkConfig) -> list[str]:
    """The problems LISA's per-distribution network file cases find (``verify_network_file_
    configuration``, ``verify_ifcfg_eth0``, ``verify_dhcp_file_configuration`` at 66df42e):
    substring tests on whole files, as LISA makes them."""
    problems: list[str] = []

    def needs(path: str, text: str, *, fold: bool = False) -> None:
        content = config.text(path)
        if content is None:
            problems.append(f"{path} missing")
        elif (text.upper() not in content.upper()) if fold else (text not in content):
            problems.append(f"{path} lacks {text}")

    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if family == "rhel":  # LISA's Fedora class: RHEL, CentOS, Alma, Rocky, Oracle (all < 39)
        needs("/etc/sysconfig/network", "networking=yes", fold=True)
        for text in ("DEVICE=eth0", "BOOTPROTO=dhcp", "ONBOOT=yes"):
            needs("/etc/sysconfig/network-scripts/ifcfg-eth0", text)
    elif family == "suse":
        needs("/etc/sysconfig/network/dhcp", 'DHCLIENT_SET_HOSTNAME="no"')
    elif family == "azurelinux":
        networkd = "/usr/lib/systemd/networkd.conf" if major >= 4 else "/etc/systemd/networkd.conf"
        if config.text(networkd) is None:
            problems.append(f"{networkd} missing")
        if major in (3, 4):
            needs("/etc/dhcpcd.conf", "option host_name")
        else:
            needs("/etc/dhcp/dhclient.conf", "host-name")
    return problems


@check(
    id="network_file_configuration",
    title="Per-distribution network files as LISA expects them",
    area="system",
    severity=Severity.FAIL,
    required="RHEL-like: NETWORKING=yes, ifcfg-eth0 DHCP on boot; SUSE: DHCLIENT_SET_HOSTNAME="
    '"no"; Azure Linux: networkd.conf and the DHCP client\'s host-name option',
    facts=[NETWORK_CONFIG, OS_RELEASE],
    needs_all_facts=True,
    tags=BOTH,
)
def network_file_configuration(facts: Facts, params: Params) -> Outcome:
    """LISA's network file cases for the distributions it runs them on: RHEL-like images need
    ``NETWORKING=yes`` in /etc/sysconfig/network and an ifcfg-eth0 with ``DEVICE=eth0``,
    ``BOOTPROTO=dhcp`` and ``ONBOOT=yes``; SUSE needs ``DHCLIENT_SET_HOSTNAME="no"`` in
    /etc/sysconfig/network/dhcp (Microsoft's SLES preparation guide); Azure Linux needs
    networkd.conf and its DHCP client's host-name option. Debian and Ubuntu pass, as LISA skips
    them. (``verify_network_manager_not_installed`` applies only below RHEL 7, which vmcert does
    not support; the udev rules case is ``network_dhcp``'s.)"""
    config = facts.require(NETWORK_CONFIG)
    os_release = facts.require(OS_RELEASE)
    family = os_release.family
    if family not in ("rhel", "suse", "azurelinux"):
        return Outcome(Status.PASS, family, f"LISA skips these cases on {family}")
    problems = _lisa_network_files(family, os_release.version_id, config)
    files = ", ".join(config.files) or "no network files"
    if problems:
        return Outcome(Status.FAIL, problems[0], "; ".join(problems), clip(list(config.files)))
    return Outcome(Status.PASS, files, f"the {family} network files LISA reads are in order")
