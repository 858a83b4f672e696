"""The ``qemu`` platform: boot an image locally under QEMU and reach it over SSH.

Recipe (local-boot.md §3, pycloudlib's QEMU cloud):

* the candidate is never written: QEMU boots a qcow2 overlay in the run directory whose backing
  file is the image (format sniffed from the bytes; a fixed VHD is ``vpc``, which QEMU would
  otherwise probe as raw);
* KVM only when a probe boot works (``harness.accel``), else TCG with scaled timeouts;
* Generation 1 (SeaBIOS) or 2 (OVMF pflash with a private copy of the variable store), chosen
  from the partition table (GPT with an EFI system partition means 2) or by option;
* user-mode networking with ``restrict=on`` and one forward 127.0.0.1:<free port> → guest 22;
* serial console to a file for the whole run (timestamped by a watcher thread, optionally echoed
  live to stderr);
* an ephemeral ed25519 key given to the guest through a NoCloud ``cidata`` seed that creates
  the user ``vmcert`` with passwordless sudo;
* teardown always: QMP ``quit``, then kill by PID; overlay, seed, key and run directory removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.accel import OVMF_CODE, OVMF_VARS, QEMU, Accel, choose_accel
from harness.console import notice
from harness.errors import InfraError, InputError, Interrupted
from harness.keys import generate_keypair
from harness.platforms.base import (
    DEFAULT_BOOT_TIMEOUT,
    BootError,
    BootOptions,
    Machine,
    Platform,
    signals_deferred,
)
from harness.seed import SEED_USER, build_seed_iso
from harness.ssh import NOTE_EPHEMERAL, NOTE_PINNED, SshSession, wait_for_ssh

SERIAL_TAIL_LINES = 40

# Lines in the serial log that mean the boot has failed for good.
_FATAL_SERIAL = (
    ("Kernel panic - not syncing", "kernel panic"),
    ("No bootable device", "no bootable device (firmware found nothing to boot)"),
    ("BdsDxe: No bootable option", "no bootable option (UEFI firmware found nothing to boot)"),
    ("Shell> ", "UEFI firmware dropped to its shell (nothing bootable; wrong --gen?)"),
    # OVMF tries its own PXE only after every disk failed (the NIC has no option ROM)
    ("Start PXE over IPv4", "UEFI firmware found nothing bootable on disk (tried network boot)"),
)

ESP_TYPE_GUID = bytes.fromhex("28732ac11ff8d211ba4b00a0c93ec93b")
"""C12A7328-F81F-11D2-BA4B-00A0C93EC93B (EFI system partition) as stored on disk."""

_FINGERPRINT = re.compile(r"\b\d+\s+(SHA256:[A-Za-z0-9+/]{43})\b")


# -- image format and generation --------------------------------------------------------------


def sniff_format(path: Path) -> str:
    """QEMU's driver name for an image, from its bytes: ``qcow2``, ``vhdx``, ``vpc`` or ``raw``.

    Uses the offline inspector's detection (``images.vhd.probe_format``). A fixed VHD has its only
    footer in the last 512 bytes, so it must be told apart from raw here (QEMU's own probe calls
    it raw and boots the footer as a disk sector). Bytes that are no container and no recognised
    disk (an unpartitioned or blank disk) are booted as raw; other containers (VMDK, compressed
    files, ISO images, differencing VHDs that need a parent) are refused with one line.
    """
    from images.vhd import ImageFormat, probe_format

    try:
        size = path.stat().st_size
        with path.open("rb") as handle:

            def read(offset: int, length: int) -> bytes:
                handle.seek(offset)
                return handle.read(length)

            probe = probe_format(read, size, str(path))
    except OSError as exc:
        raise InputError(f"cannot read image {path}: {exc.strerror}") from None
    if probe.format is ImageFormat.VHD_DIFFERENCING:
        raise InputError(f"image {path} is a differencing VHD; boot its merged (fixed) disk")
    if probe.format is ImageFormat.UNKNOWN:
        if probe.detail and probe.detail != "all zeros at the start":
            raise InputError(
                f"image {path} looks like {probe.detail}, not a VHD/VHDX/qcow2/raw disk; "
                "convert it with qemu-img first"
            )
        return "raw"
    name = probe.format.qemu_name
    assert name is not None
    return name


def _read_guest_bytes(path: Path, fmt: str, length: int) -> bytes:
    """The first ``length`` bytes of the virtual disk (raw and fixed VHD are read directly)."""
    if fmt in ("raw", "vpc"):
        with path.open("rb") as handle:
            data = handle.read(length)
        if fmt == "vpc" and data.startswith(b"conectix"):
            pass  # a dynamic VHD: fall through to qemu-img below
        else:
            return data
    with tempfile.TemporaryDirectory(prefix="vmcert-head-") as tmp:
        out = Path(tmp, "head.raw")
        proc = subprocess.run(
            [
                "qemu-img",
                "dd",
                "-f",
                fmt,
                "-O",
                "raw",
                "bs=512",
                f"count={max(1, length // 512)}",
                f"if={path}",
                f"of={out}",
            ],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            return b""
        return out.read_bytes()


def has_efi_system_partition(head: bytes, sector: int = 512) -> bool:
    """True when ``head`` (the disk's first sectors) holds a GPT with an EFI system partition."""
    header = head[sector : sector * 2]
    if len(header) < 92 or not header.startswith(b"EFI PART"):
        return False
    entries_lba = int.from_bytes(header[72:80], "little")
    count = int.from_bytes(header[80:84], "little")
    entry_size = int.from_bytes(header[84:88], "little")
    if entry_size < 128 or count == 0:
        return False
    start = entries_lba * sector
    for index in range(min(count, 128)):
        offset = start + index * entry_size
        entry = head[offset : offset + 16]
        if len(entry) < 16:
            break
        if entry == ESP_TYPE_GUID:
            return True
    return False


def detect_generation(path: Path, fmt: str) -> int:
    """2 for a GPT disk with an EFI system partition, else 1 (BIOS)."""
    head = _read_guest_bytes(path, fmt, 34 * 512)
    return 2 if has_efi_system_partition(head) else 1


# -- serial console -------------------------------------------------------------------------


class SerialWatcher:
    """Follows the serial log file, timestamping each line with the host clock.

    Times are seconds since ``origin`` (``time.monotonic()`` when QEMU was started).
    """

    def __init__(self, path: Path, origin: float, echo: bool) -> None:
        self.path = path
        self.origin = origin
        self.echo = echo
        self.lines: list[tuple[float, str]] = []
        self._partial = b""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._follow, name="serial-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _follow(self) -> None:
        handle = None
        try:
            while not self._stop.is_set():
                if handle is None:
                    try:
                        handle = self.path.open("rb")
                    except OSError:
                        self._stop.wait(0.05)
                        continue
                chunk = handle.read(65536)
                if chunk:
                    self._feed(chunk)
                else:
                    self._stop.wait(0.05)
            if handle is not None:
                self._feed(handle.read())
        finally:
            if handle is not None:
                handle.close()

    def _feed(self, chunk: bytes) -> None:
        now = time.monotonic() - self.origin
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        if self.echo and chunk:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
        with self._lock:
            for raw in complete:
                text = raw.decode("utf-8", errors="replace").rstrip("\r")
                self.lines.append((now, _strip_ansi(text)))

    def snapshot(self) -> list[tuple[float, str]]:
        """All complete lines so far plus the unterminated last one."""
        with self._lock:
            lines = list(self.lines)
        if self._partial:
            lines.append(
                (
                    time.monotonic() - self.origin,
                    _strip_ansi(self._partial.decode(errors="replace")),
                )
            )
        return lines

    def tail(self, count: int = SERIAL_TAIL_LINES) -> list[str]:
        """The last ``count`` non-empty lines."""
        return [line for _, line in self.snapshot() if line.strip()][-count:]

    def first(self, needle: str) -> float | None:
        """Host time of the first line containing ``needle``."""
        for stamp, line in self.snapshot():
            if needle in line:
                return stamp
        return None


_ANSI = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]|\x1b[()][A-Z0-9]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def host_key_fingerprints(lines: list[str]) -> list[str]:
    """Fingerprints cloud-init printed between its SSH HOST KEY FINGERPRINTS markers."""
    found: list[str] = []
    inside = False
    for line in lines:
        if "BEGIN SSH HOST KEY FINGERPRINTS" in line:
            inside = True
            continue
        if "END SSH HOST KEY FINGERPRINTS" in line:
            inside = False
            continue
        if inside:
            match = _FINGERPRINT.search(line)
            if match and match.group(1) not in found:
                found.append(match.group(1))
    return found


# -- QEMU process ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGKILL QEMU if the harness dies without tearing down."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def qmp_quit(socket_path: Path, timeout: float = 3.0) -> bool:
    """Ask QEMU to quit over QMP; True when the command was accepted."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            reader = sock.makefile("rb")
            reader.readline()  # greeting
            for command in ("qmp_capabilities", "quit"):
                sock.sendall(json.dumps({"execute": command}).encode() + b"\n")
                while True:
                    reply = json.loads(reader.readline() or b"{}")
                    if "return" in reply or "error" in reply or not reply:
                        break
            return True
    except (OSError, ValueError):
        return False


def _pause(phase: str) -> None:
    """Test hook: ``VMCERT_TEST_PAUSE=<phase>:<seconds>`` sleeps at a phase boundary.

    The interrupt tests use it to deliver SIGINT at a known phase; it does nothing otherwise.
    """
    spec = os.environ.get("VMCERT_TEST_PAUSE", "")
    name, _, seconds = spec.partition(":")
    if name == phase and seconds:
        notice(f"test pause at {phase} for {seconds} s")
        time.sleep(float(seconds))


@dataclass
class _Run:
    """Everything one QEMU boot created, and how to take it down."""

    directory: Path
    owns_directory: bool
    serial_log_to: Path | None = None
    qmp_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    watcher: SerialWatcher | None = None
    firmware: SerialWatcher | None = None
    """SeaBIOS debug output (port 0x402): "No bootable device" shows up only there."""
    stderr_path: Path | None = None
    started: float = 0.0
    extra_paths: list[Path] = field(default_factory=list)

    @property
    def qmp_socket(self) -> Path:
        return (self.qmp_dir or self.directory) / "qmp.sock"

    def qemu_stderr(self) -> str:
        if self.stderr_path is None:
            return ""
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def teardown(self) -> None:
        """Stop QEMU (QMP quit, then SIGKILL by PID) and remove the run's files."""
        with signals_deferred():
            self._teardown()

    def _teardown(self) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            if qmp_quit(self.qmp_socket):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        for watcher in (self.watcher, self.firmware):
            if watcher is not None:
                watcher.stop()
        if self.serial_log_to is not None:
            with contextlib.suppress(OSError):
                self.serial_log_to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.directory / "serial.log", self.serial_log_to)
        if self.qmp_dir is not None:
            shutil.rmtree(self.qmp_dir, ignore_errors=True)
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        else:
            for path in self.extra_paths:
                with contextlib.suppress(OSError):
                    path.unlink()


@dataclass
class QemuMachine(Machine):
    """A QEMU guest; pins its host key from the serial console once cloud-init printed it."""

    _run: _Run | None = field(default=None, repr=False)
    first_key: str | None = None
    """Fingerprint of the host key seen on the first (readiness) connection."""
    _ready: SshSession | None = field(default=None, repr=False)
    """The readiness connection, handed to the first :meth:`session` call (saves a login)."""

    def serial_events(self) -> list[tuple[float, str]]:
        """Serial lines with host-clock seconds since QEMU was started."""
        if self._run is None or self._run.watcher is None:
            return []
        return self._run.watcher.snapshot()

    def refresh_host_key_pin(self) -> None:
        """Pin to the fingerprints on the serial console when they are there (and check them).

        cloud-init prints them late (cloud-final, after sshd is up), so the readiness connection
        accepts the key; every later session is pinned: to the console's fingerprints once they
        appear (raising if the first-seen key is not among them), else to the first-seen key.
        """
        if self.facts.get("host_key_note") == NOTE_PINNED:
            return
        console = host_key_fingerprints([line for _, line in self.serial_events()])
        if console:
            if self.first_key is not None and self.first_key not in console:
                raise InfraError(
                    f"host key {self.first_key} seen over SSH is not among the fingerprints the "
                    f"guest printed on its serial console ({', '.join(console)})"
                )
            self.host_keys = console
            self.facts["host_key_note"] = NOTE_PINNED
        elif self.first_key is not None:
            self.host_keys = [self.first_key]
            self.facts["host_key_note"] = NOTE_EPHEMERAL

    def session(self, *, timeout: float = 10.0, retries: int = 3) -> SshSession:
        ready, self._ready = self._ready, None
        if ready is not None and ready.active:
            return ready
        self.refresh_host_key_pin()
        return super().session(timeout=timeout, retries=retries)

    def destroy(self) -> None:
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.close()
        super().destroy()

    def wait_settled(self, timeout: float | None = None) -> dict[str, str]:
        states = super().wait_settled(timeout)
        self.refresh_host_key_pin()
        return states


class QemuPlatform(Platform):
    """Boots images locally under QEMU (KVM when usable, else TCG).

    QEMU is started with ``PR_SET_PDEATHSIG`` (unless ``keep``) so that it dies with the harness
    even on ``kill -9``; the kernel ties that to the *thread* that booted, so boot from a thread
    that outlives the machine (the main thread, or the worker that also destroys it).
    """

    name = "qemu"

    def boot(self, image: Path | None, options: BootOptions) -> Machine:
        if image is None:
            raise InputError("the qemu platform needs an image file")
        image = image.resolve()
        if not image.is_file():
            raise InputError(f"image {image} does not exist or is not a file")
        if shutil.which(QEMU) is None:
            raise InfraError(f"{QEMU} not found; install qemu-system-x86 (scripts/install.sh)")
        if options.generation not in (None, 1, 2):
            raise InputError(f"generation must be 1 or 2, not {options.generation}")
        run = self._make_run(options)
        try:
            return self._boot(image, options, run)
        except BaseException:
            # Anything (including KeyboardInterrupt/Interrupted) before the machine is handed
            # over: nothing may stay behind.
            run.teardown()
            raise

    @staticmethod
    def _make_run(options: BootOptions) -> _Run:
        if options.run_dir is not None:
            options.run_dir.mkdir(parents=True, exist_ok=True)
            directory = Path(tempfile.mkdtemp(prefix="qemu-", dir=options.run_dir))
        else:
            directory = Path(tempfile.mkdtemp(prefix="vmcert-qemu-"))
        run = _Run(directory=directory, owns_directory=True, serial_log_to=options.serial_log_to)
        # AF_UNIX paths are limited to 107 bytes; a deep run dir gets a short socket dir.
        if len(str(directory / "qmp.sock")) > 100:
            run.qmp_dir = Path(tempfile.mkdtemp(prefix="vmcert-qmp-"))
        return run

    def _boot(self, image: Path, options: BootOptions, run: _Run) -> QemuMachine:
        started_prepare = time.monotonic()
        fmt = sniff_format(image)
        generation = options.generation or detect_generation(image, fmt)
        accel = choose_accel(options.accel)
        if accel.name == "tcg" and options.accel == "auto":
            notice(accel.reason)
        directory = run.directory
        overlay = directory / "overlay.qcow2"
        proc = subprocess.run(
            [
                "qemu-img",
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                fmt,
                "-b",
                str(image),
                str(overlay),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise InputError(f"cannot use image {image} as a {fmt} backing file: {detail}")
        keys = generate_keypair(directory, comment=f"vmcert-{directory.name}")
        seed = build_seed_iso(directory, keys.public_line, f"vmcert-{uuid.uuid4()}")
        prepare_s = time.monotonic() - started_prepare
        _pause("before-qemu")

        base_timeout = options.boot_timeout
        timeout = (
            base_timeout if base_timeout is not None else DEFAULT_BOOT_TIMEOUT * accel.timeout_scale
        )
        port = self._start(image, fmt, generation, accel, options, run, overlay, seed)
        notice(
            f"QEMU started (pid {run.process.pid if run.process else '?'}, {accel.name}, "
            f"gen {generation}, {fmt}); waiting up to {timeout:.0f} s for SSH on 127.0.0.1:{port}"
        )
        _pause("waiting-for-ssh")
        try:
            session = wait_for_ssh(
                "127.0.0.1",
                port,
                SEED_USER,
                key_path=keys.private_path,
                timeout=timeout,
                check=lambda: self._check_alive(run, options.cancel),
            )
        except BootError:
            raise
        except InfraError as exc:  # timed out: say so with what the console showed
            tail = run.watcher.tail() if run.watcher else []
            raise BootError(str(exc), tail) from None
        ready = time.monotonic() - run.started
        first_key = session.host_key_fingerprint
        qemu_pid = run.process.pid if run.process else 0
        facts = {
            "platform": self.name,
            "accel": accel.name,
            "accel_reason": accel.reason,
            "generation": str(generation),
            "image_format": fmt,
            "firmware": "OVMF (UEFI)" if generation == 2 else "SeaBIOS",
            "memory_mib": str(options.memory_mib),
            "cpus": str(options.cpus),
            "prepare_s": f"{prepare_s:.2f}",
            "qemu_start_to_ssh_s": f"{ready:.2f}",
            "ssh_attempts": str(session.attempts),
            "ssh_handshake_s": f"{session.handshake_seconds:.2f}",
            "harness_footprint": (
                f"user {SEED_USER} created by cloud-init from a NoCloud seed (cidata ISO) with an "
                "ephemeral ed25519 key and NOPASSWD sudo; cloud-init told to make only an ed25519 "
                "host key and not to grow the disk; the guest writes only to a throwaway overlay"
            ),
            "host_key_note": NOTE_EPHEMERAL,
            "host_key_fingerprint": first_key or "",
            "qemu_pid": str(qemu_pid),
            "run_dir": str(directory),
            "stop_hint": (
                f"kill {qemu_pid}; rm -rf {shlex.quote(str(directory))}" if options.keep else ""
            ),
        }
        machine = QemuMachine(
            host="127.0.0.1",
            port=port,
            user=SEED_USER,
            key_path=keys.private_path,
            serial_log=directory / "serial.log",
            facts=facts,
            host_keys=None,
            timeout_scale=accel.timeout_scale,
            _teardown=run.teardown,
            _run=run,
            first_key=first_key,
            _ready=session,
        )
        machine.refresh_host_key_pin()
        return machine

    def _start(
        self,
        image: Path,
        fmt: str,
        generation: int,
        accel: Accel,
        options: BootOptions,
        run: _Run,
        overlay: Path,
        seed: Path,
    ) -> int:
        directory = run.directory
        serial = directory / "serial.log"
        firmware: list[str] = [
            "-chardev",
            f"file,id=fw0,path={directory / 'firmware.log'}",
            "-device",
            "isa-debugcon,iobase=0x402,chardev=fw0",
        ]
        if generation == 2:
            if not OVMF_CODE.exists():
                raise InfraError(f"UEFI firmware {OVMF_CODE} missing; install ovmf")
            vars_copy = directory / "OVMF_VARS.fd"
            shutil.copyfile(OVMF_VARS, vars_copy)
            firmware = [  # OVMF's debug port output is noise; it reports on the serial port
                "-drive",
                f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive",
                f"if=pflash,format=raw,unit=1,file={vars_copy}",
            ]
        # The port can be taken between free_port() and QEMU's bind: retry with another one.
        for _attempt in range(3):
            port = free_port()
            command = [
                QEMU,
                "-name",
                directory.name,
                *accel.qemu_args,
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
                f"file={overlay},format=qcow2,if=virtio",
                "-drive",
                f"file={seed},format=raw,if=virtio,readonly=on",
                "-netdev",
                f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
                "-device",
                "virtio-net-pci,netdev=n0,romfile=",  # no iPXE: no network boot attempts
                "-device",
                "virtio-rng-pci",
                "-chardev",
                f"file,id=ser0,path={serial}",
                "-serial",
                "chardev:ser0",
                "-qmp",
                f"unix:{run.qmp_socket},server=on,wait=off",
            ]
            (directory / "qemu.cmdline").write_text(" ".join(command) + "\n")
            run.stderr_path = directory / "qemu.stderr"
            with run.stderr_path.open("wb") as err:
                run.started = time.monotonic()
                run.process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,  # a terminal Ctrl-C reaches us, not QEMU directly
                    preexec_fn=None if options.keep else _die_with_parent,
                )
            if run.watcher is None:
                run.watcher = SerialWatcher(serial, run.started, options.console)
                run.watcher.start()
                if generation == 1:
                    run.firmware = SerialWatcher(directory / "firmware.log", run.started, False)
                    run.firmware.start()
            else:
                run.watcher.origin = run.started
            # A forward that cannot bind makes QEMU exit at once.
            time.sleep(0.2)
            if run.process.poll() is not None and "hostfwd" in run.qemu_stderr().lower():
                continue
            return port
        self._check_alive(run)
        raise InfraError("QEMU could not bind a host port for the SSH forward after 3 attempts")

    def _check_alive(self, run: _Run, cancel: threading.Event | None = None) -> None:
        """Raise :class:`BootError` when QEMU died or the serial log shows a fatal boot error,
        :class:`Interrupted` when ``cancel`` is set (the caller's run is being interrupted)."""
        if cancel is not None and cancel.is_set():
            raise Interrupted("boot abandoned: the run is being interrupted")
        tail = run.watcher.tail() if run.watcher else []
        proc = run.process
        if proc is not None and proc.poll() is not None:
            errors = run.qemu_stderr().strip().splitlines()
            detail = errors[-1] if errors else "no message"
            if any("KVM internal error" in line for line in errors):
                detail = "KVM internal error (emulation failure); try --accel tcg"
            raise BootError(f"QEMU exited with code {proc.returncode}: {detail}", tail)
        errors_text = run.qemu_stderr()
        if "KVM internal error" in errors_text:
            raise BootError("KVM internal error (emulation failure); try --accel tcg", tail)
        for watcher in (run.watcher, run.firmware):
            if watcher is None:
                continue
            for _, line in watcher.snapshot():
                for needle, meaning in _FATAL_SERIAL:
                    if needle in line:
                        raise BootError(f"boot failed: {meaning}", tail or watcher.tail())
