"""SshSession against a real OpenSSH server on 127.0.0.1 (started per module, own host key).

Needs root (sshd privilege separation, a temporary user for the sudo path) and /usr/sbin/sshd.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from harness.errors import InfraError
from harness.keys import generate_keypair
from harness.ssh import NOTE_EPHEMERAL, NOTE_PINNED, SshSession, fingerprint

SSHD = Path("/usr/sbin/sshd")
# one user per test process: several people may run the suite on one host at once
TEST_USER = f"vmcert-t{os.getpid()}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Sshd:
    """A running test sshd and the credentials it accepts."""

    port: int
    key_path: Path
    host_fingerprint: str
    user: str
    password: str
    directory: Path
    process: subprocess.Popen[bytes]


def _ensure_user(name: str, password: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}".encode(), check=True)
    sudoers = Path("/etc/sudoers.d")
    sudoers.mkdir(mode=0o750, exist_ok=True)
    rule = sudoers / name
    rule.write_text(f"{name} ALL=(ALL) NOPASSWD:ALL\n")
    rule.chmod(0o440)


def _remove_user(name: str) -> None:
    Path("/etc/sudoers.d", name).unlink(missing_ok=True)
    # -f: an sshd session process of the user may still be exiting
    subprocess.run(["userdel", "-f", "-r", name], check=False, capture_output=True)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real sshd on 127.0.0.1:<free port> that accepts one key for root and a test user."""
    if os.geteuid() != 0 or not SSHD.exists() or shutil.which("sudo") is None:
        pytest.skip("needs root, /usr/sbin/sshd and sudo")
    directory = tmp_path_factory.mktemp("sshd")
    os.chmod(directory, 0o755)
    host_key = directory / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    pair = generate_keypair(directory / "client")
    auth = directory / "authorized_keys"
    auth.write_text(pair.public_line + "\n")
    auth.chmod(0o644)
    password = "vmcert-test-pw-1"
    _ensure_user(TEST_USER, password)
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {auth}",
                "StrictModes no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no",
                "MaxStartups 50",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=open(directory / "sshd.log", "wb"),  # noqa: SIM115 - lives as long as sshd
    )
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    public = paramiko.Ed25519Key(filename=str(host_key))
    try:
        yield Sshd(
            port, pair.private_path, fingerprint(public), TEST_USER, password, directory, process
        )
    finally:
        process.terminate()
        process.wait(10)
        _remove_user(TEST_USER)


@pytest.fixture
def root_session(sshd: Sshd) -> Iterator[SshSession]:
    with SshSession.connect("127.0.0.1", sshd.port, "root", key_path=sshd.key_path) as session:
        yield session


def test_exit_status_and_streams(root_session: SshSession) -> None:
    result = root_session.run("echo out; echo err >&2; exit 7")
    assert result.exit_status == 7
    assert result.stdout_text == "out\n"
    assert result.stderr_text == "err\n"
    assert not result.truncated and not result.timed_out and not result.ok
    assert root_session.host_key_note == NOTE_EPHEMERAL


def test_output_cap_counts_dropped_bytes(root_session: SshSession) -> None:
    total = 3 * 1024 * 1024
    result = root_session.run(f"head -c {total} /dev/zero", max_output=1 << 20)
    assert result.exit_status == 0
    assert len(result.stdout) == 1 << 20
    assert result.stdout_dropped == total - (1 << 20)
    assert result.truncated and result.stderr_dropped == 0


def test_time_limit_marks_timed_out(root_session: SshSession) -> None:
    result = root_session.run("echo started; sleep 30", timeout=1.0)
    assert result.timed_out
    assert result.exit_status is None
    assert result.stdout_text == "started\n"
    assert result.duration < 10
    # the session stays usable after a timed-out command
    assert root_session.run("echo again").stdout_text == "again\n"


def test_undecodable_output_is_replaced(root_session: SshSession) -> None:
    result = root_session.run(r"printf 'a\377b'")
    assert result.stdout == b"a\xffb"
    assert result.text() == "a\ufffdb"


def test_script_runs_in_one_exec_round_trip(sshd: Sshd, root_session: SshSession) -> None:
    # Each exec request is one session channel; count them on the transport.
    transport = root_session._client.get_transport()
    assert transport is not None
    before = transport._channel_counter
    script = 'a=$(echo one)\nb=two\necho "$a $b"\ncd /tmp && pwd\nexit 3\n'
    result = root_session.run_script(script)
    assert transport._channel_counter == before + 1
    assert result.exit_status == 3
    assert result.stdout_text == "one two\n/tmp\n"
    assert result.command == script


def test_sudo_for_non_root_user(sshd: Sshd) -> None:
    with SshSession.connect("127.0.0.1", sshd.port, sshd.user, password=sshd.password) as session:
        assert session.run("id -un").stdout_text.strip() == sshd.user
        assert session.run("id -un", sudo=True).stdout_text.strip() == "root"
        script = session.run_script("id -u\nwhoami\n", sudo=True)
        assert script.stdout_text.split() == ["0", "root"]
        # /sbin is on PATH for non-root users too (Debian leaves it out; local-boot pitfall 10)
        assert session.run("command -v sshd").exit_status == 0


def test_root_does_not_use_sudo(root_session: SshSession) -> None:
    # sudo -n would still work as root, so prove the wrapping is skipped by hiding sudo
    result = root_session.run("PATH=/nonexistent; id -u", sudo=True)
    assert result.exit_status != 0  # id not found: the command ran without a sudo wrapper
    assert root_session._wrap_command("id -u", sudo=True).startswith("PATH=")


def test_fetch_via_sftp_and_missing_file(root_session: SshSession, sshd: Sshd) -> None:
    target = sshd.directory / "fetch-me"
    target.write_bytes(b"hello\x00world")
    assert root_session.fetch(str(target)) == b"hello\x00world"
    with pytest.raises(FileNotFoundError):
        root_session.fetch(str(sshd.directory / "absent"))


def test_fetch_with_sudo_uses_cat(sshd: Sshd) -> None:
    secret = sshd.directory / "root-only"
    secret.write_bytes(b"secret\n")
    secret.chmod(0o600)
    with SshSession.connect("127.0.0.1", sshd.port, sshd.user, password=sshd.password) as session:
        with pytest.raises(FileNotFoundError):
            session.fetch(str(secret))
        assert session.fetch(str(secret), sudo=True) == b"secret\n"


def test_pinned_host_key(sshd: Sshd) -> None:
    with SshSession.connect(
        "127.0.0.1", sshd.port, "root", key_path=sshd.key_path, host_keys=[sshd.host_fingerprint]
    ) as session:
        assert session.host_key_note == NOTE_PINNED
        assert session.host_key_fingerprint == sshd.host_fingerprint
    with pytest.raises(InfraError, match="not among the pinned fingerprints"):
        SshSession.connect(
            "127.0.0.1",
            sshd.port,
            "root",
            key_path=sshd.key_path,
            host_keys=["SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
            retries=3,
        )


def test_auth_failure_is_one_line_infra_error(sshd: Sshd, tmp_path: Path) -> None:
    other = generate_keypair(tmp_path)
    started = time.monotonic()
    with pytest.raises(InfraError) as info:
        SshSession.connect("127.0.0.1", sshd.port, "root", key_path=other.private_path, retries=5)
    assert "authentication as root@127.0.0.1" in str(info.value)
    assert "\n" not in str(info.value)
    assert time.monotonic() - started < 20  # not retried five times with backoff


def test_connect_retries_then_fails_with_one_line(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path)
    port = free_port()  # nothing listens here
    with pytest.raises(InfraError) as info:
        SshSession.connect("127.0.0.1", port, "root", key_path=pair.private_path, retries=3)
    message = str(info.value)
    assert "after 3 attempt(s)" in message and "\n" not in message


def test_connect_retries_until_server_appears(sshd: Sshd) -> None:
    # A TCP forwarder that only starts listening after a delay: the first attempts are refused.
    port = free_port()
    forwarder = subprocess.Popen(
        [
            "python3",
            "-c",
            "import socket,threading,time,sys\n"
            "time.sleep(1.2)\n"
            "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            f"s.bind(('127.0.0.1',{port}));s.listen()\n"
            "def pipe(a,b):\n"
            "  while (d:=a.recv(65536)): b.sendall(d)\n"
            "  b.close()\n"
            "while True:\n"
            "  c,_=s.accept()\n"
            f"  u=socket.create_connection(('127.0.0.1',{sshd.port}))\n"
            "  threading.Thread(target=pipe,args=(c,u),daemon=True).start()\n"
            "  threading.Thread(target=pipe,args=(u,c),daemon=True).start()\n",
        ]
    )
    try:
        with SshSession.connect(
            "127.0.0.1", port, "root", key_path=sshd.key_path, retries=6
        ) as session:
            assert session.run("echo via-forwarder").stdout_text == "via-forwarder\n"
    finally:
        forwarder.kill()
        forwarder.wait()


def test_missing_key_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="does not exist"):
        SshSession.connect("127.0.0.1", 22, "root", key_path=tmp_path / "nope")


def test_key_files_are_private(tmp_path: Path) -> None:
    pair = generate_keypair(tmp_path / "keys")
    assert pair.private_path.stat().st_mode & 0o777 == 0o600
    assert pair.public_path.stat().st_mode & 0o777 == 0o600
    assert pair.public_line.startswith("ssh-ed25519 ")
    # paramiko can load what cryptography wrote
    assert paramiko.Ed25519Key(filename=str(pair.private_path)).get_name() == "ssh-ed25519"


def test_closed_session_raises_infra_error(sshd: Sshd) -> None:
    session = SshSession.connect("127.0.0.1", sshd.port, "root", key_path=sshd.key_path)
    session.close()
    session.close()  # idempotent
    with pytest.raises(InfraError, match="closed"):
        session.run("true")


def test_known_hosts_verifies_existing_hosts(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.ssh import NOTE_FIRST_USE, NOTE_KNOWN_HOSTS

    monkeypatch.setenv("HOME", str(tmp_path))
    with SshSession.connect(
        "127.0.0.1", sshd.port, "root", key_path=sshd.key_path, known_hosts=True
    ) as session:
        assert session.host_key_note == NOTE_FIRST_USE  # not listed yet
    public = (sshd.directory / "host_ed25519.pub").read_text().split()
    (tmp_path / ".ssh").mkdir()
    entry = f"[127.0.0.1]:{sshd.port} {public[0]} {public[1]}\n"
    (tmp_path / ".ssh" / "known_hosts").write_text(entry)
    with SshSession.connect(
        "127.0.0.1", sshd.port, "root", key_path=sshd.key_path, known_hosts=True
    ) as session:
        assert session.host_key_note == NOTE_KNOWN_HOSTS
    other = paramiko.Ed25519Key(filename=str(generate_keypair(tmp_path / "k").private_path))
    (tmp_path / ".ssh" / "known_hosts").write_text(
        f"[127.0.0.1]:{sshd.port} ssh-ed25519 {other.get_base64()}\n"
    )
    with pytest.raises(InfraError, match="refused: BadHostKeyException"):  # never accepted
        SshSession.connect(
            "127.0.0.1", sshd.port, "root", key_path=sshd.key_path, known_hosts=True, retries=3
        )
