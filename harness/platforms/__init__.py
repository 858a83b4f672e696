"""Platforms that boot images into machines reachable over SSH.

``PLATFORMS`` maps names to :class:`~harness.platforms.base.Platform` subclasses; the built-ins
(``qemu``, ``ssh``) register on import and third parties add theirs through the entry-point group
``vmcert.platforms`` (``name = "package.module:PlatformClass"``).
"""

from __future__ import annotations

from harness.platforms.base import BootError, BootOptions, Machine, Platform
from harness.platforms.qemu import QemuPlatform
from harness.platforms.ssh import SshPlatform
from harness.registry import Registry

PLATFORMS: Registry[type[Platform]] = Registry("platform", "vmcert.platforms")
PLATFORMS.add(QemuPlatform.name, QemuPlatform)
PLATFORMS.add(SshPlatform.name, SshPlatform)


def get_platform(name: str) -> Platform:
    """An instance of the platform registered as ``name`` (one-line error when unknown)."""
    return PLATFORMS.get(name)()


__all__ = [
    "PLATFORMS",
    "BootError",
    "BootOptions",
    "Machine",
    "Platform",
    "QemuPlatform",
    "SshPlatform",
    "get_platform",
]
