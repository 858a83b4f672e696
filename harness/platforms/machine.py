"""A running machine under test, reached over SSH: the typed handle every platform returns.

:class:`Machine` opens SSH sessions, waits once for the guest to settle (:class:`SettleState`),
says how to reach it and tears it down; its :class:`Footprint` says what the harness added to the
guest so that checks can discount it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from checks.facts.azure_provisioning import AzureProvisioning
from harness.ssh import SshSession

DEFAULT_SETTLE_TIMEOUT = 120.0
"""Seconds for cloud-init and systemd to settle under KVM; scaled like the boot timeout."""


@dataclass(frozen=True)
class SettleState:
    """Where cloud-init and systemd stood when :meth:`Machine.wait_settled` returned."""

    cloud_init: str
    """``done``, ``error``, ``running``, ``disabled``, ``absent`` (not installed) or ``unknown``."""
    system: str
    """``systemctl is-system-running``: ``running``, ``degraded``, ``starting``, ``offline``..."""
    seconds: float = 0.0
    """How long the wait took."""

    @property
    def settled(self) -> bool:
        """Both reached a final state (a degraded system and a failed cloud-init count)."""
        return self.cloud_init not in ("running", "unknown") and self.system not in (
            "starting",
            "initializing",
            "unknown",
        )

    def as_dict(self) -> dict[str, str]:
        """``{"cloud_init": ..., "system": ...}`` for reports."""
        return {"cloud_init": self.cloud_init, "system": self.system}

    @classmethod
    def parse(cls, stdout: str, seconds: float = 0.0) -> SettleState:
        """The states :func:`settle_script` printed; a missing or empty answer is ``unknown``
        (never a state the guest did not report)."""
        states = {"cloud_init": "unknown", "system": "unknown"}
        for line in stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep and key in states:
                states[key] = value.strip() or "unknown"
        return cls(states["cloud_init"], states["system"], seconds)


def settle_script(per_step: int) -> str:
    """The guest script :meth:`Machine.wait_settled` runs: each wait bounded by ``per_step``
    seconds. systemd < 240 (RHEL 7's 219, SLES 12's 228) has no ``is-system-running --wait``:
    it prints nothing and exits 1 (not ``timeout``'s 124), so the state is polled instead."""
    return (
        "if command -v cloud-init >/dev/null 2>&1; then\n"
        f"  timeout {per_step} cloud-init status --wait >/dev/null 2>&1\n"
        "  s=$(cloud-init status 2>/dev/null | sed -n 's/^status: *//p')\n"
        '  echo "cloud_init=${s:-unknown}"\n'
        "else echo cloud_init=absent; fi\n"
        f"s=$(timeout {per_step} systemctl is-system-running --wait 2>/dev/null); rc=$?\n"
        'if [ -z "$s" ] && [ "$rc" -ne 124 ]; then\n'
        "  i=0\n"
        '  while s=$(systemctl is-system-running 2>/dev/null); [ "$s" = starting ] ||'
        ' [ "$s" = initializing ]; do\n'
        f'    [ "$i" -ge {per_step} ] && break; sleep 2; i=$((i + 2))\n'
        "  done\n"
        "fi\n"
        'echo "system=${s:-unknown}"\n'
    )


@dataclass(frozen=True)
class Footprint:
    """What the harness added to the guest, so that checks can discount it."""

    login_user: str = ""
    """The account the harness logs in with (the deploy user on an existing host)."""
    added: tuple[str, ...] = ()
    """Each change the harness made to the guest, as a sentence; empty: nothing added."""
    login_is_deploy_user: bool = False
    """The login user is an account of the machine itself (``--platform ssh``: the deploy user
    of an existing host), so its own files are not counted against the image, whatever their
    age. Platforms that create their own user leave this False."""

    def describe(self) -> str:
        """One line for reports (``facts["harness_footprint"]``)."""
        if not self.added:
            return f"none added; the harness logs in as {self.login_user}"
        return "; ".join(self.added)


@dataclass
class Machine:
    """A running machine under test, reachable over SSH.

    ``facts`` are platform facts for reports (all strings): ``platform``, ``accel``,
    ``generation``, boot timings, ``harness_footprint`` (:attr:`footprint` as one line),
    ``host_key_note``, and after :meth:`wait_settled` ``cloud_init_status`` and ``system_state``.
    """

    host: str
    port: int
    user: str
    key_path: Path | None = None
    password: str | None = field(default=None, repr=False)
    serial_log: Path | None = None
    facts: dict[str, str] = field(default_factory=dict)
    host_keys: list[str] | None = None
    """Pinned host-key fingerprints (``SHA256:...``), or None when not pinned."""
    timeout_scale: float = 1.0
    """Multiplier for time limits (5 under TCG)."""
    known_hosts: bool | Path = False
    """Check host keys against the user's known_hosts (or this file) when not pinned."""
    footprint: Footprint = field(default_factory=Footprint)
    _teardown: Callable[[], None] | None = field(default=None, repr=False)
    _destroyed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _settled: SettleState | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.footprint.login_user:
            self.footprint = dataclasses.replace(self.footprint, login_user=self.user)
        self.facts.setdefault("harness_footprint", self.footprint.describe())

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

    def wait_settled(
        self, timeout: float | None = None, *, session: SshSession | None = None
    ) -> SettleState:
        """Wait (bounded) for cloud-init and systemd to finish booting; return where they stand.

        One sudo script over ``session`` (kept open for the caller, so the check phase that
        follows needs no second login), or over a session of its own. The state is remembered: a
        second call returns it without touching the machine (the runner calls this once, between
        boot and checks). A state that is not final after ``timeout`` is returned as is; it is
        also recorded in ``facts`` (``cloud_init_status``, ``system_state``).
        """
        if self._settled is not None:
            return self._settled
        limit = timeout if timeout is not None else DEFAULT_SETTLE_TIMEOUT * self.timeout_scale
        script = settle_script(max(1, int(limit / 2)))
        started = time.monotonic()
        if session is not None:
            result = session.run_script(script, sudo=True, timeout=limit + 30)
        else:
            with self.session() as ssh:
                result = ssh.run_script(script, sudo=True, timeout=limit + 30)
        settled = SettleState.parse(result.stdout_text, time.monotonic() - started)
        self.facts["cloud_init_status"] = settled.cloud_init
        self.facts["system_state"] = settled.system
        self._settled = settled
        return settled

    def provisioning(self) -> AzureProvisioning:
        """What the platform saw of the image's own provisioning, for the ``provisioning``
        checks; by default nothing (only a platform that plays Azure's part can judge it)."""
        platform = self.facts.get("platform") or "this"
        return AzureProvisioning(
            applicable=False,
            reason=f"the {platform} platform does not emulate Azure's provisioning (only qemu "
            "with --provision azure does)",
        )

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
