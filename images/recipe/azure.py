"""The azure variant: the good image prepared the way Azure's own Debian images are.

cloud-init is restricted to the Azure datasource (``datasource_list: [ Azure ]``), so the image
provisions only from Azure's media/IMDS and reports Ready to the WireServer; waagent stays for
extensions (``Provisioning.Agent=cloud-init`` and the ed25519 host key, as in the good image).
Booted with ``--provision azure`` (the default); with a NoCloud seed it does not provision.

Edited with debugfs on a sparse copy (no mount), like the gen2 variant reads the good image.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


GOOD_HEADER = (
    "# vmcert test image: Azure's provisioning (media, IMDS) or a NoCloud seed (the cidata disk);\n"
    "# ds-identify picks the one the boot offers. networkd does DHCP."
)


def restrict_datasources(good: str, datasources: str, header: str) -> str:
    """The good image's cloud-init settings with ``datasource_list: [ datasources ]``."""
    text, count = re.subn(r"(?m)^datasource_list:.*$", f"datasource_list: [ {datasources} ]", good)
    if count != 1:
        raise ImageBuildError(f"test image build: no datasource_list line in {CLOUD_CFG}")
    return text.replace(GOOD_HEADER, header)


def azure_cloud_cfg(good: str) -> str:
    """The good image's cloud-init settings with only the Azure datasource."""
    return restrict_datasources(
        good,
        "Azure",
        "# vmcert azure test image: Azure's provisioning media and IMDS only; networkd does DHCP.",
    )


def with_cloud_cfg(
    spec: Variant, good: Path, work: Path, say: Progress, log: Path, edit: Callable[[str], str]
) -> Path:
    """A sparse copy of the good VHD whose cloud-init settings are ``edit(good settings)``."""
    vhd = work / "disk.vhd"
    run(["cp", "--sparse=always", str(good), str(vhd)], "copying the good image")
    target = f"{vhd}?offset={PARTITION_OFFSET}"
    cloud_cfg = run(["debugfs", "-R", f"cat {CLOUD_CFG}", target], f"reading {CLOUD_CFG}", log)
    replace_file(vhd, CLOUD_CFG, edit(cloud_cfg), work, log)
    return vhd


def derive_azure(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """Copy the good VHD (sparse) and restrict cloud-init to Azure's provisioning."""
    say(f"{spec.name}: copying the good image; cloud-init restricted to the Azure datasource")
    return with_cloud_cfg(spec, good, work, say, log, azure_cloud_cfg)
