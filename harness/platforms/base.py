"""The platform interface: boot an image into a running :class:`Machine` reachable over SSH.

A :class:`Platform` turns an image plus :class:`BootOptions` into a :class:`Machine`; the
:meth:`Platform.booted` context manager guarantees :meth:`Machine.destroy` (unless ``keep``), also
on exceptions, SIGINT (``KeyboardInterrupt``) and SIGTERM (the CLI turns it into ``Interrupted``).
Third-party platforms register through the ``vmcert.platforms`` entry-point group.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.console import notice
from harness.errors import InfraError
from harness.ssh import SshSession

DEFAULT_BOOT_TIMEOUT = 90.0
"""Seconds from start to SSH under KVM; scaled by the acceleration (TCG: x5)."""
DEFAULT_SETTLE_TIMEOUT = 120.0
"""Seconds for cloud-init and systemd to settle under KVM; scaled like the boot timeout."""


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


@dataclass
class BootOptions:
    """How to boot. Fields after ``boot_timeout`` are for the ``ssh`` platform."""

    accel: str = "auto"
    """``auto`` (KVM only when a probe boot works), ``kvm`` or ``tcg``."""
    generation: int | None = None
    """1 (BIOS) or 2 (UEFI); None: decided from the image's partition table."""
    console: bool = False
    """Copy the serial console live to stderr."""
    keep: bool = False
    """Leave the machine running after use and print how to reach it."""
    run_dir: Path | None = None
    """Parent directory for the run's files (overlay, seed, key, serial log); default: $TMPDIR."""
    memory_mib: int = 1024
    cpus: int = 2
    boot_timeout: float | None = None
    """Seconds until SSH must answer; None: DEFAULT_BOOT_TIMEOUT scaled by the acceleration."""
    serial_log_to: Path | None = None
    """Copy the serial log here when the machine is destroyed (the run dir itself is removed)."""
    cancel: threading.Event | None = None
    """Set from another thread to abandon a boot still waiting for SSH: the platform tears down
    what it started and raises :class:`~harness.errors.Interrupted`."""
    host: str | None = None
    port: int = 22
    user: str | None = None
    key_path: Path | None = None
    password: str | None = None


@dataclass
class Machine:
    """A running machine under test, reachable over SSH.

    ``facts`` are platform facts for reports (all strings): ``platform``, ``accel``,
    ``generation``, boot timings, ``harness_footprint`` (what the harness added to the guest, so
    checks can discount it), ``host_key_note``.
    """

    host: str
    port: int
    user: str
    key_path: Path | None = None
    password: str | None = None
    serial_log: Path | None = None
    facts: dict[str, str] = field(default_factory=dict)
    host_keys: list[str] | None = None
    """Pinned host-key fingerprints (``SHA256:...``), or None when not pinned."""
    timeout_scale: float = 1.0
    """Multiplier for time limits (5 under TCG)."""
    known_hosts: bool = False
    """Check host keys against the user's known_hosts (existing hosts) when not pinned."""
    _teardown: Callable[[], None] | None = field(default=None, repr=False)
    _destroyed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def host_key_note(self) -> str:
        """How the host key is trusted (also in ``facts['host_key_note']``)."""
        return self.facts.get("host_key_note", "")

    def session(self, *, timeout: float = 10.0, retries: int = 3) -> SshSession:
        """A new connected :class:`SshSession` (the caller closes it)."""
        return SshSession.connect(
            self.host,
            self.port,
            self.user,
            key_path=self.key_path,
            password=self.password,
            timeout=timeout,
            retries=retries,
            host_keys=self.host_keys,
            known_hosts=self.known_hosts,
            pin_source=self.host_key_note or "pinned",
        )

    def wait_settled(self, timeout: float | None = None) -> dict[str, str]:
        """Wait (bounded) for cloud-init and systemd to finish booting; return their states.

        Returns ``{"cloud_init": "done"|"error"|"running"|"absent"|..., "system": "running"|
        "degraded"|"starting"|...}`` and records them in ``facts`` (``cloud_init_status``,
        ``system_state``). A state that is not final after ``timeout`` is returned as is.
        """
        limit = timeout if timeout is not None else DEFAULT_SETTLE_TIMEOUT * self.timeout_scale
        per_step = max(1, int(limit / 2))
        script = (
            "if command -v cloud-init >/dev/null 2>&1; then\n"
            f"  timeout {per_step} cloud-init status --wait >/dev/null 2>&1\n"
            "  s=$(cloud-init status 2>/dev/null | sed -n 's/^status: *//p')\n"
            '  echo "cloud_init=${s:-unknown}"\n'
            "else echo cloud_init=absent; fi\n"
            f"s=$(timeout {per_step} systemctl is-system-running --wait 2>/dev/null)\n"
            'echo "system=${s:-unknown}"\n'
        )
        with self.session() as ssh:
            result = ssh.run_script(script, sudo=True, timeout=limit + 30)
        states = {"cloud_init": "unknown", "system": "unknown"}
        for line in result.stdout_text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key in states:
                states[key] = value.strip() or "unknown"
        self.facts["cloud_init_status"] = states["cloud_init"]
        self.facts["system_state"] = states["system"]
        return states

    def access_hint(self) -> str:
        """A shell command line that reaches this machine."""
        parts = ["ssh", "-p", str(self.port)]
        if self.key_path is not None:
            parts += ["-i", str(self.key_path)]
        parts += [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            f"{self.user}@{self.host}",
        ]
        return shlex.join(parts)

    def destroy(self) -> None:
        """Stop the machine and remove everything the run created (idempotent).

        SIGINT/SIGTERM are held back while tearing down (main thread only) so that a second
        Ctrl-C cannot leave half a teardown; they are delivered right after.
        """
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
            teardown = self._teardown
        if teardown is None:
            return
        with signals_deferred():
            teardown()


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for the block (main thread only); they arrive right after.

    Teardown runs under it: ``timeout(1)`` signals both the harness and its process group, and a
    second signal must not abort a half-done teardown (seen in practice: files left behind).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Platform(ABC):
    """Boots images into machines. Subclasses set ``name`` and implement :meth:`boot`."""

    name: ClassVar[str]

    @abstractmethod
    def boot(self, image: Path | None, options: BootOptions) -> Machine:
        """Boot ``image`` and return a machine that answers SSH; on failure leave nothing behind."""

    @contextlib.contextmanager
    def booted(self, image: Path | None, options: BootOptions | None = None) -> Iterator[Machine]:
        """Boot, yield the machine, and always destroy it afterwards unless ``options.keep``."""
        opts = options or BootOptions()
        machine = self.boot(image, opts)
        try:
            yield machine
        finally:
            if opts.keep:
                notice(f"kept running; reach it with: {machine.access_hint()}")
                stop = machine.facts.get("stop_hint")
                if stop:
                    notice(f"stop it with: {stop}")
            else:
                machine.destroy()
