"""A QEMU guest as a :class:`~harness.platforms.base.Machine`, and what one boot holds.

:class:`QemuRun` is everything a boot created (process, watchers, files) and its teardown: QMP
``quit``, then SIGKILL by PID, then the run's files removed. :class:`QemuMachine` pins the guest's
host key from the serial console once cloud-init printed it and reuses the readiness connection
for its first session (one login saved).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from checks.facts.azure_provisioning import AzureProvisioning
from harness.azure_emulator.fact import NOT_EMULATED, logged_in_fact, not_applicable
from harness.azure_emulator.server import Emulator
from harness.azure_emulator.timeline import ProvisioningState
from harness.errors import InfraError
from harness.platforms.machine import Machine, SettleState, signals_deferred
from harness.platforms.qemu.cmdline import RunFiles
from harness.platforms.qemu.serial import SerialWatcher, host_key_fingerprints
from harness.ssh import NOTE_EPHEMERAL, NOTE_PINNED, SshSession


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


@dataclass
class QemuRun:
    """Everything one QEMU boot created, and how to take it down."""

    files: RunFiles
    owns_directory: bool
    """Remove the whole directory on teardown (else only ``extra_paths``)."""
    serial_log_to: Path | None = None
    qmp_dir: Path | None = None
    """A short directory for the QMP socket when the run dir's path is too long for AF_UNIX."""
    process: subprocess.Popen[bytes] | None = None
    watcher: SerialWatcher | None = None
    firmware: SerialWatcher | None = None
    """SeaBIOS debug output (port 0x402): "No bootable device" shows up only there."""
    stderr_path: Path | None = None
    started: float = 0.0
    extra_paths: list[Path] = field(default_factory=list)
    emulator: Emulator | None = None
    """The Azure provisioning emulator of a ``--provision azure`` boot (stopped after QEMU)."""
    keeper: subprocess.Popen[bytes] | None = None
    """A kept VM's emulator keeper (:mod:`harness.azure_emulator.keeper`), stopped on teardown."""

    @property
    def directory(self) -> Path:
        return self.files.directory

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
            if qmp_quit(self.files.qmp_socket):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        for watcher in (self.watcher, self.firmware):
            if watcher is not None:
                watcher.stop()
        keeper, self.keeper = self.keeper, None
        if keeper is not None and keeper.poll() is None:
            keeper.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                keeper.wait(5)
            if keeper.poll() is None:
                keeper.kill()
                keeper.wait(5)
        if self.emulator is not None:
            self.emulator.stop()
        if self.serial_log_to is not None:
            with contextlib.suppress(OSError):
                self.serial_log_to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.files.serial_log, self.serial_log_to)
                if self.emulator is not None:  # the guest's requests, beside its console
                    log = self.emulator.request_log_path
                    shutil.copyfile(log, self.serial_log_to.with_name(log.name))
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

    run: QemuRun | None = field(default=None, repr=False)
    first_key: str | None = None
    """Fingerprint of the host key seen on the first (readiness) connection."""
    _ready: SshSession | None = field(default=None, repr=False)
    """The readiness connection, handed to the first :meth:`session` call (saves a login)."""

    def azure_state(self) -> ProvisioningState | None:
        """What the guest did with the emulated Azure provisioning so far (``--provision
        azure``; ``None`` otherwise), live, with times in seconds since QEMU started."""
        if self.run is None or self.run.emulator is None:
            return None
        return self.run.emulator.state(origin=self.run.started)

    def provisioning(self) -> AzureProvisioning:
        """The emulator's record of a ``--provision azure`` boot (see
        :func:`harness.azure_emulator.fact.logged_in_fact`); not applicable under NoCloud."""
        run = self.run
        if run is None or run.emulator is None:
            return not_applicable(NOT_EMULATED)
        log = run.emulator.request_log_path
        if run.serial_log_to is not None:  # where the teardown keeps it
            log = run.serial_log_to.with_name(log.name)
        return logged_in_fact(
            run.emulator,
            run.started,
            user=self.user,
            timeout_scale=self.timeout_scale,
            request_log=log,
        )

    def serial_events(self) -> list[tuple[float, str]]:
        """Serial lines with host-clock seconds since QEMU was started."""
        if self.run is None or self.run.watcher is None:
            return []
        return self.run.watcher.snapshot()

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

    def wait_settled(
        self, timeout: float | None = None, *, session: SshSession | None = None
    ) -> SettleState:
        states = super().wait_settled(timeout, session=session)
        # cloud-init has printed the host keys by now: later sessions are pinned to them
        self.refresh_host_key_pin()
        return states
