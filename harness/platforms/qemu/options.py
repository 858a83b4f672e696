"""The qemu platform's options (flags ``--accel --gen --memory --cpus --timeout``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.accel import CHOICES
from harness.platforms.options import PlatformOptions, option


@dataclass(frozen=True)
class QemuOptions(PlatformOptions):
    """How to run the guest under QEMU."""

    accel: str = option(
        "auto", help="auto uses KVM only when a probe boot works, else TCG.", choices=CHOICES
    )
    generation: int | None = option(
        None,
        flag="gen",
        help="1 = BIOS, 2 = UEFI (default: from the image's partition table).",
        choices=(1, 2),
    )
    memory_mib: int = option(1024, flag="memory", help="MiB of guest RAM.", minimum=128)
    cpus: int = option(2, help="Guest vCPUs.", minimum=1)
    boot_timeout: float | None = option(
        None,
        flag="timeout",
        help="Seconds to wait for SSH (default 90 under KVM, x5 under TCG).",
        minimum=1,
    )
    provision: str = option(
        "azure",
        help="How the guest gets its login: azure = emulated Azure provisioning (media, "
        "WireServer, IMDS; the image's agent must report Ready; on failure a NoCloud re-boot "
        "runs the other checks), nocloud = a cidata seed.",
        choices=("azure", "nocloud"),
    )
