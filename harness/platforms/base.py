"""The platform interface: boot an image into a running :class:`Machine` reached over SSH.

A :class:`Platform` is a list of abstract methods (pycloudlib's shape): it names itself, declares
its own options dataclass (:mod:`harness.platforms.options`) and boots. What every boot shares
(where its files go, how to cancel it, whether to echo the console, whether the machine is kept)
is a :class:`BootContext`, not an option. :meth:`Platform.booted` guarantees
:meth:`Machine.destroy` (unless ``context.keep``), also on exceptions, SIGINT
(``KeyboardInterrupt``) and SIGTERM (the CLI turns it into ``Interrupted``).

The image side is anything :class:`Bootable`: the runner passes the
:class:`~images.candidate.Candidate` it inspected; ``vmcert boot`` (any file, even a blank disk
that only fails at boot) passes a :class:`DiskFile`, which reads just the disk's head.

A concrete subclass registers itself in :data:`PLATFORMS` under its ``name`` when its module is
imported; built-ins are the modules of this package (found by discovery), third-party platforms
come through the ``vmcert.platforms`` entry-point group.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from checks.facts.azure_provisioning import AzureProvisioning
from harness.errors import InfraError, InputError
from harness.platforms.machine import (
    DEFAULT_SETTLE_TIMEOUT,
    Footprint,
    Machine,
    SettleState,
    signals_deferred,
)
from harness.platforms.options import PlatformOptions
from images.registry import Registry

DEFAULT_BOOT_TIMEOUT = 90.0
"""Seconds from start to SSH under KVM; scaled by the acceleration (TCG: x5)."""


class BootError(InfraError):
    """The machine did not come up; the message ends with the serial console's last lines."""

    def __init__(self, summary: str, serial_tail: list[str] | None = None) -> None:
        self.summary = summary
        self.serial_tail = list(serial_tail or [])
        message = summary
        if self.serial_tail:
            body = "\n".join(f"  | {line}" for line in self.serial_tail)
            message += f"\nlast {len(self.serial_tail)} serial console lines:\n{body}"
        super().__init__(message)


class ProvisioningFailed(BootError):
    """The image's own provisioning failed (its agent never made the platform's user or never
    reported Ready): a verdict on the image (``azure_provisioning`` fails), not an
    infrastructure error to retry. :attr:`fact` is what the platform saw."""

    def __init__(self, summary: str, serial_tail: list[str], fact: AzureProvisioning) -> None:
        super().__init__(summary, serial_tail)
        self.fact = fact


@dataclass(frozen=True)
class Fallback:
    """Another way to boot the same image after its provisioning failed, so that every other
    check still gets a verdict; :attr:`note` says so in the reports."""

    options: PlatformOptions
    note: str


class Bootable(Protocol):
    """What a platform needs of an image; :class:`~images.candidate.Candidate` has all of it."""

    @property
    def path(self) -> Path:
        """The image file (never written: platforms boot an overlay or a copy)."""

    @property
    def qemu_driver(self) -> str:
        """QEMU's ``-drive format=``: ``raw``, ``qcow2``, ``vpc`` or ``vhdx``."""

    @property
    def generation(self) -> int:
        """1 (BIOS) or 2 (UEFI), from the partition table."""

    def require_bootable(self) -> None:
        """Raise a one-line error when the file cannot be booted on its own."""


@dataclass(frozen=True)
class DiskFile:
    """A disk file to boot that was not inspected (``vmcert boot``): only its head is read.

    Lenient on purpose: bytes of no known format (a blank disk) boot as raw and fail at boot with
    the firmware's reason; other containers and differencing VHDs are refused with one line.
    """

    path: Path
    qemu_driver: str
    generation: int

    @classmethod
    def probe(cls, path: Path) -> DiskFile:
        """Driver and generation of ``path`` from its bytes (never its name)."""
        from images.bootdisk import disk_generation, qemu_driver

        path = path.resolve()
        if not path.is_file():
            raise InputError(f"image {path} does not exist or is not a file")
        return cls(path, qemu_driver(path), disk_generation(path))

    def require_bootable(self) -> None:
        """Nothing to do: :meth:`probe` already refused what cannot boot."""


@dataclass(frozen=True)
class BootContext:
    """What one boot needs besides the platform's options (the same for every platform)."""

    run_dir: Path | None = None
    """Parent directory for the boot's files (overlay, seed, key, serial log); default $TMPDIR."""
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set from another thread to abandon a boot still waiting for SSH: the platform tears down
    what it started and raises :class:`~harness.errors.Interrupted`."""
    console_echo: bool = False
    """Copy the machine's serial console live to stderr (platforms that have one)."""
    keep: bool = False
    """Leave the machine running after use (:meth:`Platform.booted` prints how to reach it)."""
    serial_log_to: Path | None = None
    """Copy the serial log here when the machine is destroyed (the run dir itself is removed)."""
    notify: Callable[[str], None] = field(default=lambda _message: None)
    """Receives one-line notes for the user (TCG instead of KVM, QEMU started, how to reach a
    kept machine); the platform never prints itself. The CLI shows them, a library caller may
    keep them or drop them (the default)."""


class Platform(ABC):
    """Boots candidate images into machines.

    A subclass sets ``name`` and ``options_type`` (a frozen :class:`PlatformOptions` dataclass)
    and implements :meth:`boot`; defining it registers it in :data:`PLATFORMS`.
    """

    name: ClassVar[str]
    options_type: ClassVar[type[PlatformOptions]]
    needs_image: ClassVar[bool] = True
    """False for a platform that certifies a machine that already exists (``vmcert check``)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # abstract intermediates without a name do not register
            PLATFORMS.add(cls.name, cls)

    @abstractmethod
    def boot(
        self, candidate: Bootable | None, options: PlatformOptions, context: BootContext
    ) -> Machine:
        """Boot ``candidate`` (None: a platform that needs no image) and return a machine that
        answers SSH; on failure leave nothing behind. ``options`` is an ``options_type``."""

    def fallback(self, options: PlatformOptions) -> Fallback | None:
        """How to boot again when the image's provisioning under ``options`` failed (raised as
        :class:`ProvisioningFailed`); ``None``: there is no other way in (the default)."""
        return None

    def describe(self, options: PlatformOptions) -> str:
        """The machine ``options`` name, for reports of a run that has no image (e.g. the host
        an existing-host platform logs in to); by default the platform's name."""
        return self.name

    @contextlib.contextmanager
    def booted(
        self,
        candidate: Bootable | None,
        options: PlatformOptions | None = None,
        context: BootContext | None = None,
    ) -> Iterator[Machine]:
        """Boot, yield the machine, and always destroy it afterwards unless ``context.keep``."""
        ctx = context if context is not None else BootContext()
        opts = options if options is not None else self.options_type()
        machine = self.boot(candidate, opts, ctx)
        try:
            yield machine
        finally:
            if ctx.keep:
                ctx.notify(f"kept running; reach it with: {machine.access_hint()}")
                stop = machine.facts.get("stop_hint")
                if stop:
                    ctx.notify(f"stop it with: {stop}")
            else:
                machine.destroy()


PLATFORMS: Registry[type[Platform]] = Registry("platform", "vmcert.platforms")
"""Platforms by name: the built-ins (modules of this package) and ``vmcert.platforms`` plugins."""


__all__ = [
    "DEFAULT_BOOT_TIMEOUT",
    "DEFAULT_SETTLE_TIMEOUT",
    "PLATFORMS",
    "BootContext",
    "BootError",
    "Bootable",
    "DiskFile",
    "Fallback",
    "Footprint",
    "Machine",
    "Platform",
    "ProvisioningFailed",
    "SettleState",
    "signals_deferred",
]
