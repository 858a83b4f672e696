"""The azure variant: the good image prepared the way Azure's own Debian images are.

cloud-init is restricted to the Azure datasource (``datasource_list: [ Azure ]``), so the image
provisions only from Azure's media/IMDS and reports Ready to the WireServer; waagent stays for
extensions (``Provisioning.Agent=cloud-init``, as in the good image) and waits for the ed25519
host key cloud-init makes (its default would wait up to 30 minutes for an RSA key the image
never generates). Booted with ``--provision azure``; with a NoCloud seed it does not provision.

Edited with debugfs on a sparse copy (no mount), like the gen2 variant reads the good image.
"""

from __future__ import annotations

import re
from pathlib import Path

from images.errors import ImageBuildError
from images.recipe.tools import PARTITION_OFFSET, Progress, run
from images.recipe.variants import Variant

AZURE_TOOLS: tuple[str, ...] = ("debugfs",)

CLOUD_CFG = "/etc/cloud/cloud.cfg.d/90-vmcert.cfg"
WAAGENT_CONF = "/etc/waagent.conf"


def replace_file(
    image: Path, guest_path: str, text: str, work: Path, log: Path, *, new: bool = False
) -> None:
    """Write ``text`` to ``guest_path`` in the image's root file system (mode 0644, root);
    ``new``: the file does not exist yet."""
    local = work / Path(guest_path).name
    local.write_text(text)
    local.chmod(0o644)
    target = f"{image}?offset={PARTITION_OFFSET}"
    if not new:
        run(["debugfs", "-w", "-R", f"rm {guest_path}", target], f"removing {guest_path}", log)
    run(
        ["debugfs", "-w", "-R", f"write {local} {guest_path}", target],
        f"writing {guest_path}",
        log,
    )


def azure_cloud_cfg(good: str) -> str:
    """The good image's cloud-init settings with only the Azure datasource."""
    text, count = re.subn(r"(?m)^datasource_list:.*$", "datasource_list: [ Azure ]", good)
    if count != 1:
        raise ImageBuildError(f"test image build: no datasource_list line in {CLOUD_CFG}")
    return text.replace(
        "# vmcert test image: NoCloud seed (the cidata disk) or nothing",
        "# vmcert azure test image: Azure's provisioning media and IMDS only",
    )


def azure_waagent_conf(good: str) -> str:
    """waagent waits for the ed25519 host key cloud-init generates."""
    key = "Provisioning.SshHostKeyPairType"
    text, count = re.subn(rf"(?m)^#?\s*{re.escape(key)}=.*$", f"{key}=ed25519", good)
    return text if count else text + f"{key}=ed25519\n"


def derive_azure(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """Copy the good VHD (sparse) and switch it to Azure provisioning."""
    say(f"{spec.name}: copying the good image; cloud-init restricted to the Azure datasource")
    vhd = work / "disk.vhd"
    run(["cp", "--sparse=always", str(good), str(vhd)], "copying the good image")
    target = f"{vhd}?offset={PARTITION_OFFSET}"
    cloud_cfg = run(["debugfs", "-R", f"cat {CLOUD_CFG}", target], f"reading {CLOUD_CFG}", log)
    waagent = run(["debugfs", "-R", f"cat {WAAGENT_CONF}", target], f"reading {WAAGENT_CONF}", log)
    replace_file(vhd, CLOUD_CFG, azure_cloud_cfg(cloud_cfg), work, log)
    replace_file(vhd, WAAGENT_CONF, azure_waagent_conf(waagent), work, log)
    return vhd
