"""The ``azure_provisioning`` fact from what the emulated host saw of a guest's provisioning.

The emulator records the guest's requests; this module turns that record into the fact the
``provisioning`` checks judge: final (the deadline passed, the guest gave up, or the harness is
logged in and the agent had its chance to finish), never a live guess.
"""

from __future__ import annotations

import time
from pathlib import Path

from checks.facts.azure_provisioning import AzureProvisioning as ProvisioningFact
from harness.azure_emulator.diagnosis import diagnose, timeline_lines
from harness.azure_emulator.server import Emulator
from harness.azure_emulator.timeline import Agent, ProvisioningState

NOT_EMULATED = (
    "the machine was provisioned with NoCloud (--provision nocloud), not through Azure's "
    "contract; boot with --provision azure to judge it"
)
SETTLE_WAIT = 30.0
"""Seconds (× the platform's slow-down) the check phase waits for a Ready or the VM agent's
status still due from an agent that is visibly at work."""


def provisioning_fact(
    state: ProvisioningState,
    *,
    user: str,
    logged_in: bool,
    timeout_scale: float,
    request_log: Path | None = None,
    login_error: str = "",
) -> ProvisioningFact:
    """The ``azure_provisioning`` fact from what the emulator saw (judged as final: the deadline
    passed, the guest gave up, or the machine is up and settled)."""
    diagnosis = diagnose(state, final=True)
    status = state.last_agent_status
    vm_status = ""
    if status is not None:
        upload = status.status
        vm_status = upload.status or f"unreadable ({upload.error or 'no status'})"
        if upload.status and not upload.ready and upload.message:
            vm_status += f": {upload.message}"
    ready = state.vm_agent_ready
    reporter = ready or status
    version = reporter.status.version if reporter is not None else None
    return ProvisioningFact(
        applicable=True,
        outcome=diagnosis.outcome.value,
        diagnosis=diagnosis.message,
        agent=diagnosis.agent.value if diagnosis.agent else "",
        source=diagnosis.source.value,
        ready_at=state.ready.at if state.ready is not None else None,
        timeline=tuple(timeline_lines(state)),
        user=user,
        logged_in=logged_in,
        login_error=login_error,
        timeout_scale=timeout_scale,
        vm_agent_ready_at=ready.at if ready is not None else None,
        vm_agent_status=vm_status,
        vm_agent_version=version or "",
        waagent_seen=any(event.agent is Agent.WAAGENT for event in state.events),
        request_log=str(request_log) if request_log is not None else "",
    )


def not_applicable(reason: str) -> ProvisioningFact:
    """The ``azure_provisioning`` fact of a boot that did not go through Azure's contract."""
    return ProvisioningFact(applicable=False, reason=reason)


def logged_in_fact(
    emulator: Emulator,
    started: float,
    *,
    user: str,
    timeout_scale: float,
    request_log: Path,
) -> ProvisioningFact:
    """The fact for a guest the harness is logged in to (the check phase). An agent still
    visibly at work (no Ready yet and no failure, or waagent seen but its status not yet Ready)
    gets :data:`SETTLE_WAIT` seconds, scaled, to finish. ``started``: QEMU's start (monotonic)."""
    state = emulator.state(origin=started)
    deadline = time.monotonic() + SETTLE_WAIT * max(timeout_scale, 1.0)
    while time.monotonic() < deadline and _still_due(state):
        time.sleep(0.5)
        state = emulator.state(origin=started)
    return provisioning_fact(
        state, user=user, logged_in=True, timeout_scale=timeout_scale, request_log=request_log
    )


def _still_due(state: ProvisioningState) -> bool:
    if state.failure is not None:
        return False
    if state.ready is None:
        return state.requests > 0
    waagent = any(event.agent is Agent.WAAGENT for event in state.events)
    return waagent and state.vm_agent_ready is None
