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
from dataclasses import dataclass
from pathlib import Path

from harness.azure_emulator.diagnosis import diagnose, gave_up, timeline_lines
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.server import REQUEST_LOG, Emulator, QemuArguments
from harness.keys import KeyPair, generate_keypair
from harness.platforms.base import BootError
from harness.platforms.qemu.machine import QemuRun

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

    @classmethod
    def start(cls, directory: Path) -> AzureProvisioning:
        """A fresh identity, its media and every service, ready before QEMU starts."""
        keys = generate_keypair(directory, comment=f"vmcert-{directory.name}")
        emulator = Emulator(Identity.new(keys.public_line), directory / "azure")
        emulator.start()
        return cls(emulator, keys)

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
        reason = gave_up(self.emulator.state(origin=run.started), serial, now)
        if reason is not None:
            tail = [line for _, line in serial if line.strip()][-40:]
            raise BootError(f"Azure provisioning failed: {reason}", tail)

    def timeout_message(self, run: QemuRun, message: str) -> str:
        """``message`` (SSH never came up) with what provisioning showed."""
        diagnosis = diagnose(self.emulator.state(origin=run.started), final=True)
        return f"{message}; Azure provisioning: {diagnosis.message}"

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


__all__ = ["PROVISION_CHOICES", "REQUEST_LOG", "AzureProvisioning"]
