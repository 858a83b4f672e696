"""The ``ssh`` platform against the real test sshd (an existing host: nothing booted)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.errors import InfraError, InputError
from harness.platforms import PLATFORMS, BootOptions
from harness.ssh import NOTE_FIRST_USE
from tests.test_ssh_session import Sshd, sshd  # noqa: F401 - the fixture


def test_boot_connects_and_destroy_is_a_no_op(sshd: Sshd) -> None:  # noqa: F811
    platform = PLATFORMS.get("ssh")()
    options = BootOptions(host="127.0.0.1", port=sshd.port, user="root", key_path=sshd.key_path)
    with platform.booted(None, options) as machine:
        assert machine.facts["platform"] == "ssh"
        assert machine.host_key_note == NOTE_FIRST_USE
        assert machine.host_keys == [sshd.host_fingerprint]  # later sessions are pinned to it
        with machine.session() as session:
            assert session.run("echo hi").stdout_text == "hi\n"
            assert session.host_key_note == NOTE_FIRST_USE
        assert machine.serial_log is None
    machine.destroy()  # idempotent, and the host is untouched
    with machine.session() as session:
        assert session.run("true").ok


def test_password_login_and_sudo(sshd: Sshd) -> None:  # noqa: F811
    options = BootOptions(host="127.0.0.1", port=sshd.port, user=sshd.user, password=sshd.password)
    with PLATFORMS.get("ssh")().booted(None, options) as machine, machine.session() as session:
        assert session.run("id -u", sudo=True).stdout_text.strip() == "0"
        assert machine.facts["harness_footprint"].startswith("none added")


def test_missing_options_are_usage_errors(tmp_path: Path) -> None:
    platform = PLATFORMS.get("ssh")()
    with pytest.raises(InputError, match="--host"):
        platform.boot(None, BootOptions())
    with pytest.raises(InputError, match="--key or --password"):
        platform.boot(None, BootOptions(host="127.0.0.1"))
    with pytest.raises(InputError, match="does not exist"):
        platform.boot(None, BootOptions(host="127.0.0.1", key_path=tmp_path / "nope"))


def test_unreachable_host_is_infra_error(tmp_path: Path) -> None:
    from harness.keys import generate_keypair
    from tests.test_ssh_session import free_port

    key = generate_keypair(tmp_path).private_path
    options = BootOptions(host="127.0.0.1", port=free_port(), key_path=key, boot_timeout=2)
    with pytest.raises(InfraError, match="failed after"):
        PLATFORMS.get("ssh")().boot(None, options)


def test_cli_boot_with_ssh_platform(sshd: Sshd) -> None:  # noqa: F811
    proc = subprocess.run(
        [
            "vmcert",
            "boot",
            "--platform",
            "ssh",
            "--host",
            "127.0.0.1",
            "--port",
            str(sshd.port),
            "--user",
            "root",
            "--key",
            str(sshd.key_path),
            "--command",
            "echo from-cli",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "1"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "from-cli\n"
    assert "platform ssh" in proc.stderr


def test_cli_boot_errors_are_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["vmcert", "boot", "--platform", "nope", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    proc = subprocess.run(["vmcert", "boot"], capture_output=True, text=True)
    assert proc.returncode == 2 and "IMAGE is required" in proc.stderr
    assert proc.stderr.count("\n") == 1
