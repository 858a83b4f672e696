"""Provisioning area: does the image provision the way Azure provisions it?

Judged from what the emulated Azure host saw (the ``azure_provisioning`` fact, supplied by the
harness for ``--provision azure`` boots on the ``qemu`` platform): Azure calls a deployment done
at the first ``Health Ready`` whose ids match the goal state, and fails it with "OS Provisioning
did not finish in the allotted time" otherwise. Other boots cannot judge this and say why.
"""

from __future__ import annotations

from checks.common import ONLINE, clip
from checks.facts.agent_version import FACT as AGENT_VERSION
from checks.facts.azure_provisioning import FACT as AZURE_PROVISIONING
from checks.facts.azure_provisioning import AzureProvisioning
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


def _evidence(prov: AzureProvisioning) -> str:
    lines = [
        f"agent: {prov.agent or 'none'}",
        f"source: {prov.source or 'unknown'}",
        f"user: {prov.user or '-'} ({'logged in' if prov.logged_in else 'no login'})",
    ]
    if prov.fallback:
        lines.append(f"fallback: {prov.fallback}")
    if prov.request_log:
        lines.append(f"request log: {prov.request_log}")
    lines.append("timeline (s from QEMU start):")
    return clip([*lines, *prov.timeline], limit=40)


def _not_applicable(prov: AzureProvisioning) -> Outcome:
    return Outcome(Status.SKIPPED, "not applicable", f"not applicable: {prov.reason}")


def _with_fallback(message: str, prov: AzureProvisioning) -> str:
    return f"{message}; {prov.fallback}" if prov.fallback else message


@check(
    id="azure_provisioning",
    title="The image provisions through Azure's contract and reports Ready",
    area="provisioning",
    severity=Severity.FAIL,
    required=(
        "Health Ready with the goal state's ids within {deadline_s} s (scaled like the other "
        "timeouts), user and key deployed"
    ),
    facts=[AZURE_PROVISIONING],
    params={"deadline_s": 1200},
    tags=ONLINE,
)
def azure_provisioning(facts: Facts, params: Params) -> Outcome:
    """Azure's own verdict on a deployment, reproduced: the provisioning agent (cloud-init with
    the Azure datasource, or waagent) must read the user and key (from the provisioning media, or
    from IMDS: the evidence says which), fetch the goal state and post ``Health Ready`` echoing
    its incarnation, container and instance ids before Azure's platform window closes (20 min,
    azure-provisioning-local.md §4, multiplied by the platform's slow-down under TCG); and the
    user must then exist with that key. A failure names what the publisher should look at: no
    request at all, goal state fetched but no health report, the agent's own
    ``ProvisioningFailed`` description, stale ids, or a user/key that was not deployed."""
    prov = facts.require(AZURE_PROVISIONING)
    if not prov.applicable:
        return _not_applicable(prov)
    evidence = _evidence(prov)
    deadline = float(params.integer("deadline_s")) * max(prov.timeout_scale, 1.0)
    if prov.ready_at is None:
        # the console report shows only ``actual`` for a failure: the fallback note goes there too
        actual = _with_fallback(prov.outcome or "no Ready", prov)
        return Outcome(Status.FAIL, actual, _with_fallback(prov.diagnosis, prov), evidence)
    where = (
        "from the provisioning media"
        if prov.source == "provisioning media"
        else ("from IMDS: the provisioning media was not seen read")
    )
    actual = f"Ready at {prov.ready_at:.1f} s ({prov.agent}, {where})"
    if prov.ready_at > deadline:
        message = (
            f"{prov.agent} reported Ready at {prov.ready_at:.0f} s, after Azure's deadline of "
            f"{deadline:.0f} s: Azure fails this deployment (OS Provisioning did not finish in "
            "the allotted time)"
        )
        return Outcome(
            Status.FAIL, _with_fallback(actual, prov), _with_fallback(message, prov), evidence
        )
    if not prov.logged_in:
        message = (
            f"{prov.agent} reported Ready but the user {prov.user or '?'} with the provisioned "
            f"key could not log in: user or key not deployed ({prov.login_error or 'no login'})"
        )
        return Outcome(
            Status.FAIL, _with_fallback(actual, prov), _with_fallback(message, prov), evidence
        )
    return Outcome(Status.PASS, actual, f"provisioned: {prov.diagnosis}", evidence)


@check(
    id="azure_vm_agent_ready",
    title="The Azure VM agent reports Ready (extensions would work)",
    area="provisioning",
    severity=Severity.FAIL,
    required="when WALinuxAgent is installed: its status upload says Ready",
    # judged from the host's view; whether waagent is installed is context (agent_version,
    # probed for the agent checks), else what the host saw of it
    facts=[AZURE_PROVISIONING],
    tags=ONLINE,
)
def azure_vm_agent_ready(facts: Facts, params: Params) -> Outcome:
    """With waagent installed, Azure runs extensions only once the VM agent's status (uploaded
    to the HostGAPlugin, ``guestAgentStatus``) says ``Ready``; an agent that never reports leaves
    every extension, and the certification's "VM extension" test, to time out. An image without
    waagent has no VM agent to judge (``linux_agent_version`` fails it); a deployment that never
    provisioned is judged once, by ``azure_provisioning``."""
    prov = facts.require(AZURE_PROVISIONING)
    if not prov.applicable:
        return _not_applicable(prov)
    agent = facts.get(AGENT_VERSION)
    installed = prov.waagent_seen if agent is None else agent.version is not None
    if not installed and prov.vm_agent_ready_at is None:
        why = "is not installed" if agent is not None else "made no request (not probed)"
        return Outcome(
            Status.SKIPPED, "not installed", f"WALinuxAgent {why}: no VM agent status to judge"
        )
    version = agent.version if agent is not None and agent.version else prov.vm_agent_version
    evidence = _evidence(prov)
    if prov.vm_agent_ready_at is not None:
        return Outcome(
            Status.PASS,
            f"Ready at {prov.vm_agent_ready_at:.1f} s",
            f"the VM agent {prov.vm_agent_version or version} reported Ready",
            evidence,
        )
    if not prov.provisioned:
        return Outcome(
            Status.SKIPPED,
            "not judged",
            "not judged: Azure provisioning did not succeed (see azure_provisioning), so the VM "
            "agent could not report",
            evidence,
        )
    if prov.vm_agent_status:
        message = f"the VM agent reports {prov.vm_agent_status}, not Ready: extensions would fail"
        return Outcome(Status.FAIL, prov.vm_agent_status, message, evidence)
    return Outcome(
        Status.FAIL,
        "no status",
        f"WALinuxAgent {version or '(version not probed)'} is installed but never uploaded its "
        "status to the "
        "HostGAPlugin: extensions would not run (is its unit enabled and running? see "
        "linux_agent_enabled and the serial log)",
        evidence,
    )
