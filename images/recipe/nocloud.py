"""The nocloud variant: the good image with cloud-init restricted to NoCloud.

The shape of an image prepared for a generic cloud and never for Azure: it boots and logs in with
a NoCloud seed, but under Azure's provisioning no agent reads the media or reports Ready, which on
Azure ends in "OS Provisioning did not finish in the allotted time". It proves that
``azure_provisioning`` fails such an image with the datasource diagnosis, and the NoCloud
re-boot that still judges every other check.

Edited with debugfs on a sparse copy (no mount), like the azure variant.
"""

from __future__ import annotations

from pathlib import Path

from images.recipe.azure import restrict_datasources, with_cloud_cfg
from images.recipe.tools import Progress
from images.recipe.variants import Variant

NOCLOUD_HEADER = (
    "# vmcert nocloud test image: a NoCloud seed (the cidata disk) only; networkd does DHCP."
)


def nocloud_cloud_cfg(good: str) -> str:
    """The good image's cloud-init settings without the Azure datasource."""
    return restrict_datasources(good, "NoCloud, None", NOCLOUD_HEADER)


def derive_nocloud(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """Copy the good VHD (sparse) and restrict cloud-init to NoCloud."""
    say(f"{spec.name}: copying the good image; cloud-init restricted to the NoCloud datasource")
    return with_cloud_cfg(spec, good, work, say, log, nocloud_cloud_cfg)
