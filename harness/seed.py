"""NoCloud seed: a small ``cidata`` ISO with meta-data and user-data for cloud-init.

It creates one ephemeral user with the run's public key and passwordless sudo, and keeps the first
boot fast under TCG (ed25519 host key only, no growpart/resize; local-boot pitfall 9). It makes
the seed's host name resolve, as Azure's DNS does for a VM's own name. It leaves
the image's own sshd settings alone (no ``ssh_pwauth``): the checks judge those, and cloud-init
would also restart sshd while the harness connects.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from harness.errors import InfraError

SEED_USER = "vmcert"
"""The user the harness adds to the guest through the seed."""


def user_data(public_key_line: str, user: str = SEED_USER) -> str:
    """The ``#cloud-config`` user-data (JSON is valid YAML, so no YAML writer is needed)."""
    config = {
        "users": [
            {
                "name": user,
                "gecos": "vmcert harness (ephemeral)",
                "shell": "/bin/bash",
                "lock_passwd": True,
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": [public_key_line],
            }
        ],
        "ssh_genkeytypes": ["ed25519"],
        # Azure's DNS resolves a VM's own host name; a loopback-only guest has no such DNS, so
        # without this the seed's host name does not resolve on an image whose cloud-init leaves
        # /etc/hosts alone, and every sudo (the harness's own included) logs "unable to resolve
        # host" into the journal, which boot_log_clean would then blame on the image.
        # ``localhost`` mode adds only "127.0.1.1 <hostname>" to the image's /etc/hosts.
        "manage_etc_hosts": "localhost",
        "growpart": {"mode": "off"},
        "resize_rootfs": False,
    }
    return "#cloud-config\n" + json.dumps(config, indent=2) + "\n"


def meta_data(instance_id: str, hostname: str = "vmcert-guest") -> str:
    """NoCloud meta-data: a fresh instance id makes cloud-init treat the boot as a first boot."""
    return f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n"


def build_seed_iso(
    directory: Path, public_key_line: str, instance_id: str, user: str = SEED_USER
) -> Path:
    """Write ``seed.iso`` (volume id ``cidata``) into ``directory`` and return its path."""
    tool = shutil.which("genisoimage") or shutil.which("mkisofs")
    if tool is None:
        raise InfraError("genisoimage not found; install it (scripts/install.sh does)")
    content = directory / "seed"
    content.mkdir(parents=True, exist_ok=True)
    (content / "user-data").write_text(user_data(public_key_line, user))
    (content / "meta-data").write_text(meta_data(instance_id))
    iso = directory / "seed.iso"
    proc = subprocess.run(
        [tool, "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet", "-rock", str(content)],
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(content, ignore_errors=True)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InfraError(f"genisoimage failed to write {iso}: {detail}")
    return iso
