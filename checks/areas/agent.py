"""Azure Linux Agent area: agent version, auto-update, resource-disk swap configuration."""

from __future__ import annotations

from checks.common import BOTH, ONLINE, clip, version_ge
from checks.facts.agent_service import FACT as AGENT_SERVICE
from checks.facts.agent_version import FACT as AGENT_VERSION
from checks.facts.waagent_conf import FACT as WAAGENT_CONF
from checks.facts.waagent_conf import Setting
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


@check(
    id="linux_agent_version",
    title="Azure Linux Agent version",
    area="agent",
    severity=Severity.FAIL,
    required="WALinuxAgent ≥ {min_version}",
    facts=[AGENT_VERSION],
    params={"min_version": "2.2.41"},
    ms_test_name="Linux Agent Version",
    selftest_id=39,
    tags=BOTH,
)
def linux_agent_version(facts: Facts, params: Params) -> Outcome:
    """WALinuxAgent must be installed at ``min_version`` or later (2.2.41, mandatory since May 1,
    2020). Read from the package database, else ``waagent --version``."""
    agent = facts.require(AGENT_VERSION)
    version, evidence = agent.version, agent.source
    if version is None:
        return Outcome(Status.FAIL, "not installed", "WALinuxAgent is not installed", evidence)
    minimum = params.text("min_version")
    if version_ge(version, minimum):
        return Outcome(Status.PASS, version, f"WALinuxAgent {version}", evidence)
    return Outcome(
        Status.FAIL, version, f"WALinuxAgent {version} is older than {minimum}", evidence
    )


@check(
    id="linux_agent_enabled",
    title="Azure Linux Agent starts at boot and handles extensions",
    area="agent",
    severity=Severity.FAIL,
    required="agent installed, its unit enabled (not masked), Extensions.Enabled not n",
    facts=[AGENT_VERSION, AGENT_SERVICE, WAAGENT_CONF],
    tags=ONLINE,
)
def linux_agent_enabled(facts: Facts, params: Params) -> Outcome:
    """A new-enough agent is no use unless it runs: it must be installed, its systemd unit
    (``walinuxagent`` or ``waagent``) enabled at boot (not disabled or masked), and
    ``Extensions.Enabled`` not ``n`` as the agent reads waagent.conf. The "VM extension failure"
    test needs the agent to provision an extension (azure-certification.md §1b, S1, S15)."""
    agent = facts.get(AGENT_VERSION)
    service = facts.get(AGENT_SERVICE)
    conf = facts.get(WAAGENT_CONF)
    if agent is not None and agent.version is None:
        return Outcome(Status.FAIL, "not installed", "WALinuxAgent is not installed")
    if service is not None and service.systemd_error:
        return Outcome(
            Status.ERROR, "unit state unknown", f"systemd did not answer: {service.systemd_error}"
        )
    problems: list[str] = []
    units = "; ".join(f"{u.unit} {u.enabled}/{u.active}" for u in service.units) if service else ""
    if service is not None:
        if not service.units:
            problems.append("no walinuxagent/waagent unit")
        elif not service.enabled:
            problems.append(f"agent unit not enabled at boot ({units})")
    if conf is not None and conf.present and not conf.switch("Extensions.Enabled", True):
        problems.append("Extensions.Enabled=n: the agent will not run extensions")
    actual = ", ".join(
        part
        for part in (
            f"WALinuxAgent {agent.version}" if agent is not None and agent.version else "",
            units,
        )
        if part
    )
    if problems:
        return Outcome(Status.FAIL, actual or problems[0], "; ".join(problems))
    return Outcome(Status.PASS, actual, "the agent starts at boot and handles extensions")


_LATEST = "AutoUpdate.UpdateToLatestVersion"
_LATEST_FLAG = "2.10.0.8"
"""The first agent release that reads ``AutoUpdate.UpdateToLatestVersion``."""


@check(
    id="waagent_auto_update",
    title="Linux Agent auto-update is enabled",
    area="agent",
    severity=Severity.FAIL,
    required="AutoUpdate.Enabled not set to n",
    facts=[WAAGENT_CONF, AGENT_VERSION],
    params={"when_disabled": "fail", "ignore_from_version": ""},
    profiles={"lisa": {"ignore_from_version": "2.2.53.1"}},
    ms_test_name="Auto Update",
    selftest_id=51,
    tags=BOTH,
)
def waagent_auto_update(facts: Facts, params: Params) -> Outcome:
    """Auto-update is off only when /etc/waagent.conf sets ``AutoUpdate.Enabled`` to ``n`` as
    the agent reads it (last uncommented line wins, ``y``/``n`` in any case, anything else is the
    default ``y``); the commented default (``# AutoUpdate.Enabled=y``) passes, as in the self-test
    sample (S3).

    What a disabled auto-update costs is a policy choice (``when_disabled``: ``fail`` or
    ``warn``), because the criteria give the self-test's "Auto Update" [51] no severity of its own
    (azure-certification.md §1a, "?"). The default is ``fail`` because it is one of the toolkit's
    tests and "If any of the tests fail, your image is not certified" (S3, S5). An agent from
    2.10.0.8 reads ``AutoUpdate.UpdateToLatestVersion`` first when it is set. LISA's
    ``verify_waagent_version`` fails only an agent older than 2.2.53.1 without auto-update; the
    ``lisa`` profile follows it with ``ignore_from_version``."""
    conf = facts.require(WAAGENT_CONF)
    if not conf.present:
        return Outcome(Status.SKIPPED, "no /etc/waagent.conf", "the agent is not configured")
    agent = facts.get(AGENT_VERSION)
    key = "AutoUpdate.Enabled"
    # Agents from 2.10.0.8 read AutoUpdate.UpdateToLatestVersion first; it overrides
    # AutoUpdate.Enabled when set (conf.py get_auto_update_to_latest_version, #3027)
    newer = agent is None or not agent.version or version_ge(agent.version, _LATEST_FLAG)
    latest = conf.settings.get(_LATEST)
    if newer and latest is not None and not latest.commented and latest.value.lower() in ("y", "n"):
        key = _LATEST
    setting = conf.settings.get(key, Setting("", True))
    value, commented = setting.value, setting.commented
    shown = f"{'# ' if commented else ''}{key}={value}" if value else "(default)"
    if conf.switch(key, conf.switch("AutoUpdate.Enabled", True)):
        return Outcome(Status.PASS, shown, "agent auto-update is enabled")
    floor = params.text("ignore_from_version")
    if floor and agent is not None and agent.version and version_ge(agent.version, floor):
        return Outcome(
            Status.PASS,
            f"{shown}; WALinuxAgent {agent.version}",
            f"auto-update is off but the agent is ≥ {floor} (LISA's rule)",
        )
    status = {"fail": Status.FAIL, "warn": Status.WARNING}.get(
        params.text("when_disabled"), Status.WARNING
    )
    return Outcome(status, shown, "agent auto-update is disabled")


@check(
    id="resource_disk_swap_config",
    title="Swap is configured for the resource disk only",
    area="agent",
    severity=Severity.WARNING,
    required=(
        "waagent: ResourceDisk.Format=y + EnableSwap; "
        "cloud-init: ResourceDisk.Format=n, EnableSwap=n"
    ),
    facts=[WAAGENT_CONF],
    tags=BOTH,
)
def resource_disk_swap_config(facts: Facts, params: Params) -> Outcome:
    """Consistency of the resource-disk settings (S9): with cloud-init provisioning waagent must
    not format the resource disk or create swap (cloud-init does); with waagent provisioning, swap
    (if any) is ``ResourceDisk.EnableSwap=y`` with ``ResourceDisk.Format=y``."""
    waagent = facts.require(WAAGENT_CONF)
    if not waagent.present:
        return Outcome(Status.SKIPPED, "no /etc/waagent.conf", "the agent is not configured")
    conf = waagent.uncommented()
    agent = conf.get("Provisioning.Agent", "auto").lower() or "auto"
    use_ci = waagent.switch("Provisioning.UseCloudInit", False)
    via_cloud_init = (
        agent == "cloud-init" or use_ci or (agent == "auto" and waagent.cloud_init_present)
    )
    # y/n as the agent's get_switch reads them (anything else is the default, off)
    fmt = "y" if waagent.switch("ResourceDisk.Format", False) else "n"
    swap = "y" if waagent.switch("ResourceDisk.EnableSwap", False) else "n"
    fmt = fmt if "ResourceDisk.Format" in conf else ""
    swap = swap if "ResourceDisk.EnableSwap" in conf else ""
    size = conf.get("ResourceDisk.SwapSizeMB", "")
    actual = (
        f"Provisioning.Agent={agent} Format={fmt or '-'} "
        f"EnableSwap={swap or '-'} SwapSizeMB={size or '-'}"
    )
    evidence = clip(f"{k}={v}" for k, v in sorted(conf.items()))
    if via_cloud_init:
        if fmt.startswith("y") or swap.startswith("y"):
            return Outcome(
                Status.WARNING,
                actual,
                "cloud-init provisions this image but waagent also formats/swaps the resource disk",
                evidence,
            )
        return Outcome(
            Status.PASS,
            actual,
            "cloud-init provisioning; waagent leaves the resource disk alone",
            evidence,
        )
    if swap.startswith("y") and not fmt.startswith("y"):
        return Outcome(Status.WARNING, actual, "EnableSwap=y needs ResourceDisk.Format=y", evidence)
    if swap.startswith("y") and not size.isdigit():
        return Outcome(
            Status.WARNING, actual, "EnableSwap=y without ResourceDisk.SwapSizeMB", evidence
        )
    return Outcome(Status.PASS, actual, "waagent resource-disk settings are consistent", evidence)
