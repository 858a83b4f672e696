"""The ``dmi`` fact: the machine's SMBIOS identity, which tells whether it runs on Azure."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import key_values

AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
"""The chassis asset tag of every Azure VM (cloud-init's ``ds-identify`` and WALinuxAgent detect
Azure by it)."""


@dataclass(frozen=True)
class Dmi:
    """``/sys/class/dmi/id`` values; ``""`` when unreadable."""

    sys_vendor: str = ""
    product_name: str = ""
    chassis_asset_tag: str = ""

    @property
    def azure(self) -> bool:
        """The machine presents itself as an Azure VM (the Azure chassis asset tag)."""
        return self.chassis_asset_tag.strip() == AZURE_ASSET_TAG


def parse(text: str) -> Dmi:
    """``key=value`` lines for ``sys_vendor``, ``product_name`` and ``chassis_asset_tag``."""
    kv = key_values(text)
    return Dmi(
        sys_vendor=kv.get("sys_vendor", "").strip(),
        product_name=kv.get("product_name", "").strip(),
        chassis_asset_tag=kv.get("chassis_asset_tag", "").strip(),
    )


FACT = fact(
    "dmi",
    parse,
    timeout=5,
    description="SMBIOS vendor, product and chassis asset tag (Azure's tag marks an Azure VM)",
    offline_note="the firmware of the machine that runs the image: the image has none",
)
