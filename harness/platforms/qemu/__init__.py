"""The ``qemu`` platform, one module per concept: ``options`` (its flags), ``cmdline`` (the QEMU
command lines as pure functions), ``serial`` (the console watcher and what its lines mean),
``machine`` (the guest and the boot's resources) and ``platform`` (the boot itself)."""

from harness.platforms.qemu.machine import QemuMachine, QemuRun
from harness.platforms.qemu.options import QemuOptions
from harness.platforms.qemu.platform import QemuPlatform

__all__ = ["QemuMachine", "QemuOptions", "QemuPlatform", "QemuRun"]
