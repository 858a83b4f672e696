"""The QEMU command lines of one boot, as pure functions of options, candidate and run files.

* the candidate is never written: QEMU boots a qcow2 overlay whose backing file is the image, in
  the driver the candidate names (a fixed VHD is ``vpc``, which QEMU would otherwise probe as
  raw);
* Generation 1 boots SeaBIOS (its debug port goes to a file: "No bootable device" shows up only
  there), Generation 2 OVMF from pflash with a private copy of the variable store;
* user-mode networking with ``restrict=on`` and one forward 127.0.0.1:<port> → guest 22, a NIC
  without option ROM (no network boot attempts), a virtio RNG (no entropy stall under TCG);
* serial console to a file, QMP on a unix socket for a clean ``quit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.accel import OVMF_CODE, QEMU, Accel
from harness.azure_emulator.server import QemuArguments
from harness.platforms.base import Bootable
from harness.platforms.qemu.options import QemuOptions


@dataclass(frozen=True)
class RunFiles:
    """Where one boot's files live (all inside ``directory`` except, maybe, the QMP socket)."""

    directory: Path
    qmp_socket: Path

    @classmethod
    def under(cls, directory: Path, qmp_dir: Path | None = None) -> RunFiles:
        return cls(directory, (qmp_dir or directory) / "qmp.sock")

    @property
    def overlay(self) -> Path:
        return self.directory / "overlay.qcow2"

    @property
    def seed(self) -> Path:
        return self.directory / "seed.iso"

    @property
    def serial_log(self) -> Path:
        return self.directory / "serial.log"

    @property
    def firmware_log(self) -> Path:
        """SeaBIOS debug output (Generation 1 only)."""
        return self.directory / "firmware.log"

    @property
    def ovmf_vars(self) -> Path:
        """The private copy of OVMF's variable store (Generation 2 only)."""
        return self.directory / "OVMF_VARS.fd"


def generation(options: QemuOptions, candidate: Bootable) -> int:
    """The option when given, else what the candidate's partition table says."""
    return options.generation or candidate.generation


def overlay_argv(candidate: Bootable, files: RunFiles) -> list[str]:
    """``qemu-img create`` of the qcow2 overlay backed by the candidate (read-only for QEMU)."""
    return [
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        candidate.qemu_driver,
        "-b",
        str(candidate.path.absolute()),  # relative would mean: next to the overlay
        str(files.overlay),
    ]


def qemu_argv(
    options: QemuOptions,
    candidate: Bootable,
    accel: Accel,
    files: RunFiles,
    ssh_port: int,
    azure: QemuArguments | None = None,
) -> list[str]:
    """The ``qemu-system-x86_64`` command line that boots the overlay with the seed attached,
    or, with ``azure``, with the Azure emulator's CPU, identity, CD and network instead."""
    if generation(options, candidate) == 2:
        firmware = [  # OVMF's debug port output is noise; it reports on the serial port
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={files.ovmf_vars}",
        ]
    else:
        firmware = [
            "-chardev",
            f"file,id=fw0,path={files.firmware_log}",
            "-device",
            "isa-debugcon,iobase=0x402,chardev=fw0",
        ]
    accel_args = list(accel.qemu_args)
    seed = ["-drive", f"file={files.seed},format=raw,if=virtio,readonly=on"]
    netdev = f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{ssh_port}-:22"
    nic = "virtio-net-pci,netdev=n0,romfile="  # no iPXE: no network boot attempts
    extra: list[str] = []
    if azure is not None:
        if "-cpu" in accel_args:
            accel_args[accel_args.index("-cpu") + 1] = azure.cpu
        seed, netdev, nic, extra = [], azure.netdev, azure.nic, azure.extra
    return [
        QEMU,
        "-name",
        files.directory.name,
        *accel_args,
        "-machine",
        "q35",
        "-smp",
        str(options.cpus),
        "-m",
        str(options.memory_mib),
        "-nodefaults",
        "-display",
        "none",
        *firmware,
        "-drive",
        f"file={files.overlay},format=qcow2,if=virtio",
        *seed,
        "-netdev",
        netdev,
        "-device",
        nic,
        "-device",
        "virtio-rng-pci",
        *extra,
        "-chardev",
        f"file,id=ser0,path={files.serial_log}",
        "-serial",
        "chardev:ser0",
        "-qmp",
        f"unix:{files.qmp_socket},server=on,wait=off",
    ]
