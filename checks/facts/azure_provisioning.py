"""The ``azure_provisioning`` fact: what the guest's agent did with Azure's provisioning contract.

Supplied by the harness from its Azure provisioning emulator (``--provision azure`` on the
``qemu`` platform), not probed: the verdict is what the *host* saw (health reports, the VM
agent's status uploads, the media being ejected), exactly as Azure's fabric judges a deployment.
Any other boot supplies a value that is not :attr:`AzureProvisioning.applicable`, with the reason.
Times are seconds since QEMU started.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from checks.fact import supplied


@dataclass(frozen=True)
class AzureProvisioning:
    """One boot's provisioning as the emulated Azure host saw it."""

    applicable: bool
    reason: str = ""
    """Why the checks cannot judge this boot (not applicable), in words."""
    outcome: str = ""
    """``provisioned``, ``failed``, ``no request``, ``no health report``, ``ids mismatch`` or
    ``waiting`` (the emulator's diagnosis)."""
    diagnosis: str = ""
    """One sentence a publisher can act on; guest-written text (an agent's description) is data."""
    agent: str = ""
    """The agent whose report decided the outcome (``cloud-init``, ``waagent``, …)."""
    source: str = ""
    """Where the agent took the user and key from: ``provisioning media``, ``IMDS (…)``,
    ``unknown``."""
    ready_at: float | None = None
    """The first ``Ready`` health report whose ids match the goal state."""
    timeline: tuple[str, ...] = ()
    """One line per event: seconds, who, what."""
    user: str = ""
    """The user ``ovf-env.xml`` asked for."""
    logged_in: bool = False
    """The harness logged in as :attr:`user` with the provisioned key."""
    login_error: str = ""
    """Why it could not (SSH's own message), when it could not."""
    timeout_scale: float = 1.0
    """The platform's slow-down factor (5 under TCG); Azure's deadline is scaled by it."""
    vm_agent_ready_at: float | None = None
    """The VM agent's first status upload saying ``Ready``."""
    vm_agent_status: str = ""
    """The VM agent's last status (``Ready``, ``NotReady: <message>``), empty if it sent none."""
    vm_agent_version: str = ""
    waagent_seen: bool = False
    """waagent sent at least one request (a sign it is installed when that was not probed)."""
    request_log: str = ""
    """Path of the request log (JSON lines) kept with the run."""
    fallback: str = ""
    """Set when the other checks ran on a NoCloud re-boot of the same image (what happened)."""

    @property
    def provisioned(self) -> bool:
        """Azure would call this VM provisioned: Ready with the goal state's ids."""
        return self.applicable and self.ready_at is not None


FACT = replace(
    supplied(
        "azure_provisioning",
        AzureProvisioning,
        description="Azure provisioning as the emulated host saw it (health, VM agent status)",
    ),
    offline_note="supplied by the harness from a --provision azure boot (what the emulated "
    "Azure host saw); an image's files cannot show it",
)
