"""The waagent variant: the azure image with the Azure Linux agent as its only provisioning agent.

As on images that ship without cloud-init, waagent reads ``ovf-env.xml`` from the provisioning
media, creates the user, deploys the key, regenerates the SSH host key and reports Ready to the
WireServer itself (``Provisioning.Agent=waagent``). cloud-init's files stay on disk, but it never
runs: its units are not enabled (waagent refuses to provision while ``cloud-init-local.service``
is enabled) and ``/etc/cloud/cloud-init.disabled`` is present. ``eject``, which waagent 2.7.3
needs after reading the media (without it the agent crashes), is in the good image already.

sshd gets host keys at boot from ``ssh-keygen -A`` before its own config test, as images without
cloud-init do; waagent then regenerates the ed25519 key and restarts sshd.

Edited with debugfs on a sparse copy of the azure image (no mount).
"""

from __future__ import annotations

from pathlib import Path

from images.recipe.azure import WAAGENT_CONF, derive_azure, replace_file
from images.recipe.tools import PARTITION_OFFSET, Progress, run
from images.recipe.variants import Variant

WAAGENT_TOOLS: tuple[str, ...] = ("debugfs",)

CLOUD_INIT_WANTS = "/etc/systemd/system/cloud-init.target.wants"
CLOUD_INIT_UNITS = (
    "cloud-config.service",
    "cloud-final.service",
    "cloud-init-hotplugd.socket",
    "cloud-init-local.service",
    "cloud-init.service",
)
SSH_HOSTKEYS_DROPIN = "/etc/systemd/system/ssh.service.d/vmcert-hostkeys.conf"
SSH_HOSTKEYS = """# vmcert waagent test image: without cloud-init, sshd makes missing host keys
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
"""


def waagent_conf(text: str) -> str:
    """waagent provisions (it was cloud-init's helper in the good and azure images)."""
    lines = text.splitlines()
    changed = [
        "Provisioning.Agent=waagent" if line.startswith("Provisioning.Agent=") else line
        for line in lines
    ]
    if changed == lines:
        changed.append("Provisioning.Agent=waagent")
    return "\n".join(changed) + "\n"


def derive_waagent(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """The azure variant's edits, then cloud-init switched off and waagent made the provisioner."""
    vhd = derive_azure(spec, good, work, say, log)
    say(f"{spec.name}: cloud-init switched off; waagent provisions")
    target = f"{vhd}?offset={PARTITION_OFFSET}"
    for unit in CLOUD_INIT_UNITS:
        path = f"{CLOUD_INIT_WANTS}/{unit}"
        run(["debugfs", "-w", "-R", f"rm {path}", target], f"disabling {unit}", log)
    run(["debugfs", "-w", "-R", f"rmdir {CLOUD_INIT_WANTS}", target], "disabling cloud-init", log)
    conf = run(["debugfs", "-R", f"cat {WAAGENT_CONF}", target], f"reading {WAAGENT_CONF}", log)
    replace_file(vhd, WAAGENT_CONF, waagent_conf(conf), work, log)
    replace_file(vhd, "/etc/cloud/cloud-init.disabled", "", work, log, new=True)
    run(
        ["debugfs", "-w", "-R", "mkdir /etc/systemd/system/ssh.service.d", target],
        "creating ssh.service.d",
        log,
    )
    replace_file(vhd, SSH_HOSTKEYS_DROPIN, SSH_HOSTKEYS, work, log, new=True)
    return vhd
