"""Choosing QEMU acceleration: KVM only when it really runs a guest, else TCG.

``/dev/kvm`` opening is not enough: on a PVM host (a software nested hypervisor, module
``kvm_pvm``) QEMU reports KVM enabled but every stock guest dies with "KVM internal error ...
emulation failure" (local-boot.md §1). So KVM is trusted only after a probe boot: the OVMF
firmware alone (no disk) under ``-accel kvm`` must print to the serial port within a few
seconds. That exercises real mode, protected mode and long mode, which is where PVM fails. The
verdict is cached per host boot (``/proc/sys/kernel/random/boot_id``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from harness.errors import InputError

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
QEMU = "qemu-system-x86_64"

TCG_TIMEOUT_SCALE = 5.0
"""TCG boots are 5-10x slower than KVM; timeouts given for KVM are multiplied by this."""

CHOICES = ("auto", "kvm", "tcg")


@dataclass(frozen=True)
class Accel:
    """The acceleration a boot will use and why."""

    name: str
    """``kvm`` or ``tcg``."""
    reason: str
    timeout_scale: float = 1.0
    qemu_args: list[str] = field(default_factory=list)


def kvm(reason: str) -> Accel:
    """KVM acceleration with the host CPU model."""
    return Accel("kvm", reason, 1.0, ["-accel", "kvm", "-cpu", "host"])


def tcg(reason: str) -> Accel:
    """TCG software emulation with every CPU feature QEMU can emulate."""
    return Accel("tcg", reason, TCG_TIMEOUT_SCALE, ["-accel", "tcg", "-cpu", "max"])


def host_boot_id() -> str:
    """An id that changes with every host boot (the cache key for the KVM verdict)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def kvm_device_usable(device: Path = Path("/dev/kvm")) -> bool:
    """True when ``/dev/kvm`` exists and opens read-write."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def probe_kvm(timeout: float = 10.0) -> tuple[bool, str]:
    """Boot OVMF alone under KVM and report whether it reached the serial port.

    Returns ``(works, reason)``. Under real KVM the firmware prints within ~1 s; under PVM QEMU
    prints "KVM internal error" and stalls. Without OVMF installed the probe cannot run and KVM is
    not trusted.
    """
    if shutil.which(QEMU) is None:
        return False, f"{QEMU} not found"
    if not OVMF_CODE.exists() or not OVMF_VARS.exists():
        return False, f"probe firmware {OVMF_CODE} missing (install ovmf)"
    with tempfile.TemporaryDirectory(prefix="vmcert-kvm-probe-") as tmp:
        vars_copy = Path(tmp, "vars.fd")
        shutil.copyfile(OVMF_VARS, vars_copy)
        serial = Path(tmp, "serial.log")
        errors = Path(tmp, "stderr.log")
        with errors.open("wb") as err:
            proc = subprocess.Popen(
                [
                    QEMU,
                    "-accel",
                    "kvm",
                    "-cpu",
                    "host",
                    "-machine",
                    "q35",
                    "-m",
                    "128",
                    "-nodefaults",
                    "-display",
                    "none",
                    "-no-reboot",
                    "-drive",
                    f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                    "-drive",
                    f"if=pflash,format=raw,file={vars_copy}",
                    "-serial",
                    f"file:{serial}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if serial.exists() and serial.stat().st_size > 0:
                    return True, "KVM probe boot reached the firmware's serial output"
                text = errors.read_text(errors="replace")
                if "KVM internal error" in text or "emulation failure" in text:
                    return False, "KVM probe boot failed (KVM internal error: emulation failure)"
                if proc.poll() is not None:
                    last = (text.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
                    return False, f"KVM probe boot exited: {last[:120]}"
                time.sleep(0.1)
            return False, f"KVM probe boot printed nothing within {timeout:.0f} s"
        finally:
            proc.kill()
            proc.wait()


KVM_DEVICE = Path("/dev/kvm")


def verdict_cache_file() -> Path:
    """Where this host boot's KVM verdict is cached (one file per boot id)."""
    return Path(platformdirs.user_cache_dir("vmcert")) / f"kvm-verdict-{host_boot_id()}.json"


def kvm_verdict(
    *, refresh: bool = False, device: Path = KVM_DEVICE, cache: Path | None = None
) -> tuple[bool, str]:
    """Whether KVM runs guests on this host, probing once per host boot (``cache``: the verdict
    file, default :func:`verdict_cache_file`)."""
    if not kvm_device_usable(device):
        return False, f"{device} cannot be opened"
    cache = cache if cache is not None else verdict_cache_file()
    if not refresh:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(cache.read_text())
            return bool(data["works"]), str(data["reason"]) + "; verdict cached for this host boot"
    works, reason = probe_kvm()
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"works": works, "reason": reason}))
    return works, reason


def choose_accel(
    requested: str = "auto", *, device: Path = KVM_DEVICE, cache: Path | None = None
) -> Accel:
    """Resolve ``auto``/``kvm``/``tcg`` to an :class:`Accel` (``kvm`` and ``tcg`` are honoured).

    ``device`` and ``cache`` name the KVM device and the verdict file (tests point them at files
    of their own)."""
    if requested not in CHOICES:
        raise InputError(f"unknown acceleration {requested!r}; use one of {', '.join(CHOICES)}")
    if requested == "tcg":
        return tcg("TCG requested")
    if requested == "kvm":
        if not kvm_device_usable(device):
            raise InputError(f"--accel kvm: {device} cannot be opened; use --accel tcg or auto")
        return kvm("KVM requested")
    works, reason = kvm_verdict(device=device, cache=cache)
    if works:
        return kvm(reason)
    return tcg(f"KVM not usable: {reason}. Using TCG, timeouts x{TCG_TIMEOUT_SCALE:g}")
