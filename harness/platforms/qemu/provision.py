"""How a QEMU guest gets its login: Azure's provisioning (emulated) or vmcert's NoCloud seed.

``--provision azure`` (see :mod:`harness.azure_emulator`): the run's key and an ``azureuser`` go
to the guest the way Azure gives them — ``ovf-env.xml`` on a UDF CD, the WireServer,
HostGAPlugin and IMDS at their Azure addresses, DHCP options 245/121 — and the image's own agent
(cloud-init with the Azure datasource, or waagent) must create the user and report ``Ready``.
The emulator starts before QEMU and stops with the run's teardown; its request log is kept next
to the serial log. ``--provision nocloud``: a ``cidata`` seed creates the user ``vmcert``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from checks.facts.azure_provisioning import AzureProvisioning as ProvisioningFact
from harness.azure_emulator.diagnosis import (
    Outcome,
    cloud_init_finished_with,
    diagnose,
    gave_up,
    timeline_lines,
)
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.server import REQUEST_LOG, Emulator, QemuArguments
from harness.azure_emulator.timeline import Agent, ProvisioningState
from harness.keys import KeyPair, generate_keypair
from harness.platforms.base import BootError
from harness.platforms.machine import Machine
from harness.platforms.options import PlatformOptions
from harness.platforms.qemu.machine import QemuMachine, QemuRun
from harness.platforms.qemu.options import QemuOptions

PROVISION_CHOICES = ("azure", "nocloud")

AZURE_FOOTPRINT = (
    "user {user} created by the image's own provisioning agent from emulated Azure provisioning "
    "(UDF CD with ovf-env.xml, WireServer, IMDS) with an ephemeral ed25519 key; sudo as the "
    "agent grants it",
    "host name {hostname}; the provisioning CD ejected by the agent",
    "the guest writes only to a throwaway overlay",
)


NOT_EMULATED = (
    "the machine was provisioned with NoCloud (--provision nocloud), not through Azure's "
    "contract; boot with --provision azure to judge it"
)
SETTLE_WAIT = 30.0
"""Seconds (× the platform's slow-down) the check phase waits for a Ready or the VM agent's
status still due from an agent that is visibly at work."""


class ProvisioningFailed(BootError):
    """Azure provisioning failed: a verdict on the image (``azure_provisioning`` fails), not an
    infrastructure error to retry. :attr:`fact` is what the emulated host saw."""

    def __init__(self, summary: str, serial_tail: list[str], fact: ProvisioningFact) -> None:
        super().__init__(summary, serial_tail)
        self.fact = fact


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


def machine_provisioning(machine: Machine, platform: str) -> ProvisioningFact:
    """The ``azure_provisioning`` fact of a machine the harness is logged in to (for the check
    phase). An agent still visibly at work (no Ready yet and no failure, or waagent seen but its
    status not yet Ready) gets :data:`SETTLE_WAIT` seconds, scaled, to finish."""
    if not isinstance(machine, QemuMachine):
        return not_applicable(
            f"the {platform} platform does not emulate Azure's provisioning (only qemu with "
            "--provision azure does)"
        )
    state = machine.azure_state()
    run = machine.run
    if state is None or run is None or run.emulator is None:
        return not_applicable(NOT_EMULATED)
    deadline = time.monotonic() + SETTLE_WAIT * max(machine.timeout_scale, 1.0)
    while time.monotonic() < deadline and _still_due(state):
        time.sleep(0.5)
        state = run.emulator.state(origin=run.started)
    log = run.emulator.request_log_path
    if run.serial_log_to is not None:  # where the teardown keeps it
        log = run.serial_log_to.with_name(log.name)
    return provisioning_fact(
        state,
        user=machine.user,
        logged_in=True,
        timeout_scale=machine.timeout_scale,
        request_log=log,
    )


def _still_due(state: ProvisioningState) -> bool:
    if state.failure is not None:
        return False
    if state.ready is None:
        return state.requests > 0
    waagent = any(event.agent is Agent.WAAGENT for event in state.events)
    return waagent and state.vm_agent_ready is None


@dataclass
class AzureProvisioning:
    """The emulator and key of one ``--provision azure`` boot."""

    emulator: Emulator
    keys: KeyPair
    timeout_scale: float = 1.0
    """The boot's slow-down factor (5 under TCG), for the deadline the fact carries."""

    @classmethod
    def start(cls, directory: Path, timeout_scale: float = 1.0) -> AzureProvisioning:
        """A fresh identity, its media and every service, ready before QEMU starts."""
        keys = generate_keypair(directory, comment=f"vmcert-{directory.name}")
        emulator = Emulator(Identity.new(keys.public_line), directory / "azure")
        emulator.start()
        return cls(emulator, keys, timeout_scale)

    @property
    def user(self) -> str:
        return self.emulator.identity.username

    def qemu_arguments(self, accel: str, ssh_port: int) -> QemuArguments:
        return self.emulator.qemu_arguments(
            "n0", accel=accel, hostfwd=[f"tcp:127.0.0.1:{ssh_port}-:22"]
        )

    def check(self, run: QemuRun) -> None:
        """Raise :class:`BootError` once the guest can no longer provision (fail early)."""
        serial = run.watcher.snapshot() if run.watcher else []
        now = time.monotonic() - run.started
        state = self.emulator.state(origin=run.started)
        reason = gave_up(state, serial, now)
        if reason is not None:
            tail = [line for _, line in serial if line.strip()][-40:]
            fact = self.fact(run, state, login_error="no login: the guest gave up provisioning")
            if diagnose(state, final=True).outcome is not Outcome.FAILED:
                # the agent's own report says it all; otherwise the console told us why
                fact = replace(fact, diagnosis=reason)
            raise ProvisioningFailed(f"Azure provisioning failed: {reason}", tail, fact)

    def timeout_message(self, run: QemuRun, message: str) -> str:
        """``message`` (SSH never came up) with what provisioning showed."""
        diagnosis = diagnose(self.emulator.state(origin=run.started), final=True)
        return f"{message}; Azure provisioning: {diagnosis.message}"

    def timed_out(self, run: QemuRun, message: str, tail: list[str]) -> ProvisioningFailed:
        """SSH as the provisioned user never worked before the deadline (``message`` says why):
        the verdict, with what provisioning showed."""
        return ProvisioningFailed(
            self.timeout_message(run, message),
            tail,
            self.fact(run, self.emulator.state(origin=run.started), login_error=message),
        )

    def fact(self, run: QemuRun, state: ProvisioningState, login_error: str) -> ProvisioningFact:
        """The ``azure_provisioning`` fact of a boot nobody could log in to."""
        log = self.emulator.request_log_path
        if run.serial_log_to is not None:
            log = run.serial_log_to.with_name(log.name)
        return provisioning_fact(
            state,
            user=self.user,
            logged_in=False,
            timeout_scale=self.timeout_scale,
            request_log=log,
            login_error=login_error,
        )

    def facts(self, run: QemuRun) -> dict[str, str]:
        """Provisioning facts at the time SSH came up (times from QEMU's start)."""
        state = self.emulator.state(origin=run.started)
        diagnosis = diagnose(state, final=False)
        return {
            "provision": "azure",
            "azure_provisioning": diagnosis.outcome.value,
            "azure_provisioning_detail": diagnosis.message,
            "azure_provisioning_agent": diagnosis.agent.value if diagnosis.agent else "",
            "azure_provisioning_source": diagnosis.source.value,
            "azure_timeline": "\n".join(timeline_lines(state)),
            "azure_request_log": str(self.emulator.request_log_path),
        }

    def footprint(self) -> tuple[str, ...]:
        identity = self.emulator.identity
        return tuple(
            line.format(user=identity.username, hostname=identity.hostname)
            for line in AZURE_FOOTPRINT
        )


def check_nocloud(run: QemuRun) -> None:
    """Raise :class:`BootError` once a ``--provision nocloud`` guest can no longer let us in:
    cloud-init finished with a datasource other than NoCloud (an image restricted to Azure's),
    so it never reads the seed and never creates the user."""
    serial = run.watcher.snapshot() if run.watcher else []
    source = cloud_init_finished_with(serial)
    if source is not None and not source.startswith("DataSourceNoCloud"):
        tail = [line for _, line in serial if line.strip()][-40:]
        raise BootError(
            f"the image does not honour NoCloud: cloud-init finished with {source}, so the "
            "seed's user and key were never deployed (an image for Azure only: boot it with "
            "--provision azure)",
            tail,
        )


def nocloud_fallback(options: PlatformOptions) -> PlatformOptions | None:
    """The same boot with NoCloud instead of Azure's provisioning (``None``: nothing to fall
    back from): how the remaining checks still run after Azure provisioning failed."""
    if isinstance(options, QemuOptions) and options.provision == "azure":
        return replace(options, provision="nocloud")
    return None


FALLBACK_NOTE = (
    "Azure provisioning failed; the other checks ran on a NoCloud re-boot of the same image "
    "(--provision nocloud)"
)
FAIL_FAST_NOTE = "Azure provisioning failed; --fail-fast: no NoCloud re-boot, other checks not run"

__all__ = [
    "FAIL_FAST_NOTE",
    "FALLBACK_NOTE",
    "PROVISION_CHOICES",
    "REQUEST_LOG",
    "AzureProvisioning",
    "ProvisioningFailed",
    "machine_provisioning",
    "nocloud_fallback",
    "not_applicable",
    "provisioning_fact",
]
