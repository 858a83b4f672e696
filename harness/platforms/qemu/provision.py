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
    cloud_init_silent_at_login,
    diagnose,
    gave_up,
    timeline_lines,
)
from harness.azure_emulator.fact import provisioning_fact
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.server import Emulator, QemuArguments
from harness.azure_emulator.timeline import ProvisioningState
from harness.keys import KeyPair, generate_keypair
from harness.platforms.base import BootError, Fallback, ProvisioningFailed
from harness.platforms.qemu.machine import QemuRun
from harness.platforms.qemu.options import QemuOptions

PROVISION_CHOICES = ("azure", "nocloud")

AZURE_FOOTPRINT = (
    "user {user} created by the image's own provisioning agent from emulated Azure provisioning "
    "(UDF CD with ovf-env.xml, WireServer, IMDS) with an ephemeral ed25519 key; sudo as the "
    "agent grants it",
    "host name {hostname}; the provisioning CD ejected by the agent",
    "the guest writes only to a throwaway overlay",
)


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


NOCLOUD_GRACE = 30.0
"""Seconds after a login prompt with no cloud-init banner before it that mean cloud-init never
runs (a margin for console output arriving late, not for a slow guest: the banner precedes the
prompt on any machine)."""


def check_nocloud(run: QemuRun) -> None:
    """Raise :class:`BootError` once a ``--provision nocloud`` guest can no longer let us in:
    cloud-init finished with a datasource other than NoCloud (an image restricted to Azure's),
    or never ran at all (disabled, not installed), so nothing reads the seed and creates the
    user."""
    serial = run.watcher.snapshot() if run.watcher else []
    tail = [line for _, line in serial if line.strip()][-40:]
    source = cloud_init_finished_with(serial)
    if source is not None and not source.startswith("DataSourceNoCloud"):
        raise BootError(
            f"the image does not honour NoCloud: cloud-init finished with {source}, so the "
            "seed's user and key were never deployed (an image for Azure only: boot it with "
            "--provision azure)",
            tail,
        )
    login_at = cloud_init_silent_at_login(serial)
    waited = time.monotonic() - run.started - (login_at or 0.0)
    if login_at is not None and waited > NOCLOUD_GRACE:
        raise BootError(
            f"the image does not honour NoCloud: the console reached its login prompt at "
            f"{login_at:.0f} s and no cloud-init stage ever started, so nothing reads the seed "
            "(cloud-init disabled or not installed)",
            tail,
        )


def nocloud_fallback(options: QemuOptions) -> Fallback | None:
    """The same boot with NoCloud instead of Azure's provisioning (``None``: nothing to fall
    back from): how the remaining checks still run after Azure provisioning failed."""
    if options.provision == "azure":
        return Fallback(replace(options, provision="nocloud"), FALLBACK_NOTE)
    return None


FALLBACK_NOTE = (
    "Azure provisioning failed; the other checks ran on a NoCloud re-boot of the same image "
    "(--provision nocloud)"
)

__all__ = [
    "FALLBACK_NOTE",
    "PROVISION_CHOICES",
    "AzureProvisioning",
    "check_nocloud",
    "nocloud_fallback",
]
