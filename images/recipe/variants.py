"""The buildable test images: the good one and the variants derived from it."""

from __future__ import annotations

from dataclasses import dataclass

from images.errors import ImageInputError


@dataclass(frozen=True)
class Variant:
    """A buildable test image: the good one, or one derived from it with planted defects."""

    name: str
    description: str
    expected_failures: frozenset[str]
    """Check ids that must fail on this image (and no others); empty for ``good``."""


DEFECTIVE_FAILURES = frozenset(
    {
        "bash_history",
        "kernel_cmdline_console",
        "ssh_client_alive_interval",
        "sudoers_no_targetpw",
        "udf_vfat_enabled",
        "waagent_auto_update",
        "no_default_credentials",
        "grub_no_ata_params",
        "no_swap_on_os_disk",
        "generalized",
    }
)

VARIANTS: dict[str, Variant] = {
    "good": Variant(
        name="good",
        description="Debian 12 cloud image prepared to pass every applicable Linux check; "
        "provisions from Azure's media or a NoCloud seed",
        expected_failures=frozenset(),
    ),
    "defective": Variant(
        name="defective",
        description="the good image with ten planted defects, one per check id",
        expected_failures=DEFECTIVE_FAILURES,
    ),
    "azure": Variant(
        name="azure",
        description="the good image prepared as Azure's Debian images are: cloud-init with only "
        "the Azure datasource, waagent for extensions",
        expected_failures=frozenset(),
    ),
    "waagent": Variant(
        name="waagent",
        description="the azure image with waagent as its only provisioning agent (cloud-init "
        "switched off): waagent reads the media and reports Ready",
        expected_failures=frozenset(),
    ),
    "nocloud": Variant(
        name="nocloud",
        description="the good image with cloud-init restricted to NoCloud: never provisions "
        "under Azure (the NoCloud re-boot still judges every other check)",
        expected_failures=frozenset({"azure_provisioning"}),
    ),
    "noeject": Variant(
        name="noeject",
        description="the waagent image without eject: waagent crashes reading the media, no "
        "way in (an infrastructure error, found from the serial console)",
        expected_failures=frozenset({"azure_provisioning"}),
    ),
    "gen2": Variant(
        name="gen2",
        description="the good image as a Generation 2 disk: GPT, EFI system partition, "
        "systemd-boot (boot with OVMF)",
        expected_failures=frozenset(),
    ),
}


def get_variant(name: str) -> Variant:
    """The variant called ``name``; an unknown name is an :class:`ImageInputError` listing them."""
    try:
        return VARIANTS[name]
    except KeyError:
        known = ", ".join(sorted(VARIANTS))
        raise ImageInputError(f"unknown image variant {name!r}; known variants: {known}") from None
