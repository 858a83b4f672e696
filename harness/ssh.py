"""SSH sessions to machines under test (paramiko).

One :class:`SshSession` wraps one authenticated connection. Commands run with a time limit and a
per-stream output cap (the excess is counted, not kept), ``sudo -n`` is added when the user is not
root, and a whole script can run in one exec round trip (the script goes to ``sh -s`` on stdin),
which under TCG is the cheapest way to run many probes (see local-boot.md §3).

Host keys are either pinned (fingerprints the guest printed on its serial console), looked up in
``known_hosts``, or accepted for this ephemeral VM only; :attr:`SshSession.host_key_note` says which
so reports can tell the difference.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import os
import select
import shlex
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import paramiko

from harness.errors import InfraError

# paramiko logs banner and channel-open failures with tracebacks at ERROR level; with no handler
# configured Python's last-resort handler would print them on the user's terminal.
_paramiko_log = logging.getLogger("paramiko")
if not os.environ.get("VMCERT_DEBUG_SSH"):
    _paramiko_log.setLevel(logging.CRITICAL)
_paramiko_log.addHandler(logging.NullHandler())

_log = logging.getLogger("vmcert.ssh")

DEFAULT_MAX_OUTPUT = 1 << 20
"""Bytes kept per stream (stdout, stderr); the rest is counted in ``*_dropped``."""

NOTE_PINNED = "pinned from serial console"
NOTE_EPHEMERAL = "accepted for this ephemeral VM only"
NOTE_KNOWN_HOSTS = "known_hosts"
NOTE_FIRST_USE = "accepted on first use (not in known_hosts)"

# Non-root logins on Debian have no /sbin in PATH (local-boot pitfall 10); probes should not
# depend on whether they run through sudo.
_PATH_PREFIX = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH; '


@dataclass(frozen=True)
class CommandResult:
    """What one remote command did: exit status, captured (capped) output and timing."""

    command: str
    exit_status: int | None
    """The command's exit status; None when it timed out or the channel died."""
    stdout: bytes
    stderr: bytes
    stdout_dropped: int = 0
    """Bytes of stdout received beyond the cap and not kept."""
    stderr_dropped: int = 0
    timed_out: bool = False
    duration: float = 0.0

    @property
    def truncated(self) -> bool:
        """True when either stream went over the cap."""
        return self.stdout_dropped > 0 or self.stderr_dropped > 0

    @property
    def ok(self) -> bool:
        """Exit status 0 and not timed out."""
        return self.exit_status == 0 and not self.timed_out

    def text(self, stream: str = "stdout") -> str:
        """One stream decoded as UTF-8 (undecodable bytes replaced)."""
        data = self.stdout if stream == "stdout" else self.stderr
        return data.decode("utf-8", errors="replace")

    @property
    def stdout_text(self) -> str:
        """stdout decoded as UTF-8 with errors replaced."""
        return self.text("stdout")

    @property
    def stderr_text(self) -> str:
        """stderr decoded as UTF-8 with errors replaced."""
        return self.text("stderr")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:<base64 without padding>`` fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class HostKeyMismatch(paramiko.SSHException):
    """The server's host key is not one of the pinned fingerprints."""


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Pins to fingerprints when given; otherwise accepts (and remembers) the key."""

    def __init__(self, pinned: Collection[str] | None) -> None:
        self.pinned = {p.strip() for p in pinned} if pinned else None
        self.seen: str | None = None

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        self.seen = fingerprint(key)
        if self.pinned is not None and self.seen not in self.pinned:
            raise HostKeyMismatch(
                f"host key {key.get_name()} {self.seen} of {hostname} is not among the pinned "
                f"fingerprints {sorted(self.pinned)}"
            )


class _Failure:
    """Classification of one failed connection attempt."""

    def __init__(self, exc: BaseException, elapsed: float) -> None:
        self.exc = exc
        self.elapsed = elapsed
        self.auth = isinstance(exc, paramiko.AuthenticationException)
        self.fatal = isinstance(exc, HostKeyMismatch | paramiko.BadHostKeyException)

    def describe(self) -> str:
        text = str(self.exc).strip().splitlines()
        detail = text[0] if text else ""
        return f"{type(self.exc).__name__}: {detail}" if detail else type(self.exc).__name__


def _connect_once(
    host: str,
    port: int,
    user: str,
    key_path: Path | None,
    password: str | None,
    timeout: float,
    banner_timeout: float,
    policy: _HostKeyPolicy,
    known_hosts: bool | Path,
) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if isinstance(known_hosts, Path):
        client.load_system_host_keys(str(known_hosts))  # read-only: never written back
    elif known_hosts:
        with contextlib.suppress(OSError):
            client.load_system_host_keys()
    client.set_missing_host_key_policy(policy)
    try:
        client.connect(
            host,
            port=port,
            username=user,
            key_filename=str(key_path) if key_path else None,
            password=password,
            timeout=timeout,
            banner_timeout=banner_timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
    except BaseException:
        # A failed connect leaves the transport thread and socket open (local-boot pitfall 15);
        # leaked pre-auth connections end in MaxStartups refusing everyone.
        client.close()
        raise
    return client


class SshSession:
    """An authenticated SSH connection; use :meth:`connect` (or :func:`wait_for_ssh`)."""

    def __init__(
        self,
        client: paramiko.SSHClient,
        host: str,
        port: int,
        user: str,
        host_key_note: str,
        host_key_fingerprint: str | None,
    ) -> None:
        self._client = client
        self.host = host
        self.port = port
        self.user = user
        self.host_key_note = host_key_note
        """How the host key was trusted: pinned from serial console / ephemeral / known_hosts."""
        self.host_key_fingerprint = host_key_fingerprint
        """SHA256 fingerprint of the server's host key as seen on this connection (if recorded)."""
        self.attempts = 1
        """Connection attempts it took (set by :func:`wait_for_ssh`)."""
        self.handshake_seconds = 0.0
        """Duration of the successful attempt: TCP connect, key exchange and authentication."""

    # -- connecting -------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        host: str,
        port: int = 22,
        user: str = "root",
        *,
        key_path: Path | str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        host_keys: Collection[str] | None = None,
        known_hosts: bool | Path = False,
        pin_source: str = NOTE_PINNED,
    ) -> SshSession:
        """Connect and authenticate, retrying transient failures with backoff.

        ``host_keys`` pins the server key to these ``SHA256:...`` fingerprints; without it the key
        is checked against the user's known_hosts (or the file ``known_hosts`` names) when that is
        set (unknown keys are then accepted and noted) or accepted for this ephemeral machine.
        Authentication failures and host-key mismatches are not retried. Every failure ends as a
        one-line :class:`InfraError`.
        """
        key = Path(key_path) if key_path is not None else None
        if key is not None and not key.is_file():
            raise InfraError(f"SSH key {key} does not exist; pass an existing private key file")
        attempts = max(1, retries)
        last: _Failure | None = None
        for attempt in range(attempts):
            policy = _HostKeyPolicy(host_keys)
            started = time.monotonic()
            try:
                client = _connect_once(
                    host, port, user, key, password, timeout, timeout, policy, known_hosts
                )
            except (OSError, EOFError, paramiko.SSHException) as exc:
                last = _Failure(exc, time.monotonic() - started)
                if last.auth or last.fatal:
                    break
                if attempt + 1 < attempts:
                    time.sleep(min(0.5 * 2**attempt, 5.0))
                continue
            return cls._wrap(client, host, port, user, policy, host_keys, known_hosts, pin_source)
        assert last is not None
        raise InfraError(_failure_message(host, port, user, key, last, attempts))

    @classmethod
    def _wrap(
        cls,
        client: paramiko.SSHClient,
        host: str,
        port: int,
        user: str,
        policy: _HostKeyPolicy,
        host_keys: Collection[str] | None,
        known_hosts: bool | Path,
        pin_source: str,
    ) -> SshSession:
        if host_keys:
            note = pin_source
        elif known_hosts and policy.seen is None:
            note = NOTE_KNOWN_HOSTS  # the policy was never asked: known_hosts had the key
        elif known_hosts:
            note = NOTE_FIRST_USE
        else:
            note = NOTE_EPHEMERAL
        seen = policy.seen
        if seen is None:
            transport = client.get_transport()
            if transport is not None:
                seen = fingerprint(transport.get_remote_server_key())
        return cls(client, host, port, user, note, seen)

    # -- context manager --------------------------------------------------------------------

    def __enter__(self) -> SshSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._client.close()

    @property
    def active(self) -> bool:
        """True while the underlying transport is connected."""
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    # -- commands ---------------------------------------------------------------------------

    def _wrap_command(self, command: str, sudo: bool) -> str:
        if sudo and self.user != "root":
            return "sudo -n sh -c " + shlex.quote(_PATH_PREFIX + command)
        return _PATH_PREFIX + command

    def _open_channel(self) -> paramiko.Channel:
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise InfraError(f"SSH connection to {self.host}:{self.port} is closed")
        # sshd reaps closed sessions asynchronously, so MaxSessions can refuse briefly even below
        # the limit (local-boot pitfall 12): retry the channel open a few times.
        delay = 0.05
        for attempt in range(6):
            try:
                return transport.open_session(timeout=30.0)
            except paramiko.ChannelException:
                if attempt == 5:
                    raise
                time.sleep(delay)
                delay *= 2
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise InfraError(
                    f"SSH connection to {self.host}:{self.port} failed: {exc}".splitlines()[0]
                ) from None
        raise AssertionError("unreachable")

    def run(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        sudo: bool = False,
        max_output: int = DEFAULT_MAX_OUTPUT,
    ) -> CommandResult:
        """Run ``command`` through the login shell; never raises for a failing command.

        ``sudo`` wraps it in ``sudo -n sh -c`` when the session user is not root. On time-out the
        channel is closed and the result has ``timed_out`` set and ``exit_status`` None. A lost
        connection raises :class:`InfraError`.
        """
        return self._exec(command, self._wrap_command(command, sudo), None, timeout, max_output)

    def run_script(
        self,
        script: str,
        *,
        timeout: float = 120.0,
        sudo: bool = False,
        max_output: int = DEFAULT_MAX_OUTPUT,
    ) -> CommandResult:
        """Run a POSIX shell script in ONE exec round trip (the script is fed to ``sh -s``)."""
        wrapped = "sudo -n sh -s" if sudo and self.user != "root" else "sh -s"
        body = _PATH_PREFIX + "\n" + script
        if not body.endswith("\n"):
            body += "\n"
        return self._exec(script, wrapped, body.encode("utf-8"), timeout, max_output)

    def _exec(
        self,
        shown: str,
        command: str,
        stdin: bytes | None,
        timeout: float,
        max_output: int,
    ) -> CommandResult:
        started = time.monotonic()
        deadline = started + timeout
        channel = self._open_channel()
        out = bytearray()
        err = bytearray()
        dropped = [0, 0]
        timed_out = False
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            while True:
                got = False
                while channel.recv_ready():
                    _keep(out, channel.recv(65536), max_output, dropped, 0)
                    got = True
                while channel.recv_stderr_ready():
                    _keep(err, channel.recv_stderr(65536), max_output, dropped, 1)
                    got = True
                if (
                    channel.exit_status_ready()
                    and not (channel.recv_ready() or channel.recv_stderr_ready())
                    and (channel.eof_received or channel.closed)
                ):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                if not got:
                    select.select([channel], [], [], min(remaining, 0.1))
            status = None if timed_out else channel.recv_exit_status()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise InfraError(
                f"SSH command on {self.host}:{self.port} failed: {exc}".splitlines()[0]
            ) from None
        finally:
            channel.close()
        if status == -1:  # paramiko: the server sent no exit status (channel closed)
            status = None
        return CommandResult(
            command=shown,
            exit_status=status,
            stdout=bytes(out),
            stderr=bytes(err),
            stdout_dropped=dropped[0],
            stderr_dropped=dropped[1],
            timed_out=timed_out,
            duration=time.monotonic() - started,
        )

    # -- files ------------------------------------------------------------------------------

    def fetch(self, path: str, *, sudo: bool = False, max_bytes: int = 64 << 20) -> bytes:
        """Read a remote file: sftp first, then ``cat`` (with ``sudo`` when asked).

        Raises :class:`FileNotFoundError` when the file does not exist or cannot be read.
        """
        if not sudo or self.user == "root":
            try:
                sftp = self._client.open_sftp()
            except (paramiko.SSHException, EOFError, OSError):
                sftp = None  # no sftp subsystem: fall back to cat
            if sftp is not None:
                try:
                    with sftp.open(path, "rb") as handle:
                        data: bytes = handle.read(max_bytes)
                    return data
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        raise FileNotFoundError(errno.ENOENT, "no such remote file", path) from None
                finally:
                    sftp.close()
        result = self.run(f"cat -- {shlex.quote(path)}", sudo=sudo, max_output=max_bytes)
        if result.exit_status != 0:
            raise FileNotFoundError(
                errno.ENOENT, f"cannot read remote file: {result.stderr_text.strip()}", path
            )
        return result.stdout


def _keep(buffer: bytearray, data: bytes, cap: int, dropped: list[int], index: int) -> None:
    room = cap - len(buffer)
    if room >= len(data):
        buffer.extend(data)
        return
    if room > 0:
        buffer.extend(data[:room])
    dropped[index] += len(data) - max(room, 0)


def _failure_message(
    host: str, port: int, user: str, key: Path | None, failure: _Failure, attempts: int
) -> str:
    what = f"{user}@{host}:{port}"
    if failure.fatal:
        return f"SSH to {what} refused: {failure.describe()}"
    if failure.auth:
        cred = f"key {key}" if key else "the password"
        return f"SSH authentication as {what} failed with {cred}; check the user and credentials"
    return (
        f"SSH to {what} failed after {attempts} attempt(s): {failure.describe()}; "
        "check that the host is up and sshd listens on that port"
    )


def wait_for_ssh(
    host: str,
    port: int,
    user: str,
    *,
    key_path: Path | None = None,
    password: str | None = None,
    timeout: float = 300.0,
    host_keys: Collection[str] | None = None,
    check: Callable[[], None] | None = None,
) -> SshSession:
    """Poll until SSH accepts us (a freshly booting VM behind a slirp port forward).

    slirp accepts the TCP connection before the guest is up, so a client would wait out its whole
    banner timeout (local-boot pitfall 14). Poll with a short banner timeout until an attempt fails
    fast (reset/EOF: the guest network is up), then allow sshd a long one. ``check`` runs between
    attempts and raises to abort early (QEMU died, kernel panic in the serial log).
    Authentication failures are retried: cloud-init may not have created the user yet.
    """
    deadline = time.monotonic() + timeout
    banner = 1.5
    delay = 0.1
    last: _Failure | None = None
    attempts = 0
    while True:
        if check is not None:
            check()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempts += 1
        policy = _HostKeyPolicy(host_keys)
        started = time.monotonic()
        try:
            client = _connect_once(
                host,
                port,
                user,
                key_path,
                password,
                min(10.0, max(remaining, 0.5)),
                min(banner, max(remaining, 0.5)),
                policy,
                False,
            )
        except (OSError, EOFError, paramiko.SSHException) as exc:
            last = _Failure(exc, time.monotonic() - started)
            _log.debug(
                "attempt %d to %s:%d failed after %.2f s (banner timeout %.1f s): %s",
                attempts,
                host,
                port,
                last.elapsed,
                banner,
                last.describe(),
            )
            if last.fatal:
                raise InfraError(
                    _failure_message(host, port, user, key_path, last, attempts)
                ) from None
            if last.elapsed < banner * 0.8 and isinstance(exc, (paramiko.SSHException, EOFError)):
                # slirp accepted and the guest reset fast: its network is up, sshd may be slow.
                # (A refused connect means QEMU is not listening yet and says nothing.)
                banner = 15.0
            # Short, flat polling: a fast-failing attempt costs ~1 ms on the host, and every
            # extra second of delay after sshd comes up counts against the boot overhead.
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            continue
        handshake = time.monotonic() - started
        _log.debug("attempt %d succeeded after %.2f s", attempts, handshake)
        session = SshSession._wrap(client, host, port, user, policy, host_keys, False, NOTE_PINNED)
        session.attempts = attempts
        session.handshake_seconds = handshake
        return session
    reason = last.describe() if last else "no attempt made"
    raise InfraError(
        f"SSH to {user}@{host}:{port} not ready after {timeout:.0f} s "
        f"({attempts} attempts; last: {reason})"
    )
