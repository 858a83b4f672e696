"""The ``ssh`` platform against the real test sshd (an existing host: nothing booted)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.errors import InfraError, InputError
from harness.platforms import PLATFORMS, BootContext
from harness.platforms.options import Secret
from harness.platforms.ssh import SshOptions
from harness.ssh import NOTE_FIRST_USE
from tests.test_ssh_session import Sshd, sshd  # noqa: F401 - the fixture


def test_boot_connects_and_destroy_is_a_no_op(sshd: Sshd) -> None:  # noqa: F811
    platform = PLATFORMS.get("ssh")()
    options = SshOptions(host="127.0.0.1", port=sshd.port, user="root", key=sshd.key_path)
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
    password = Secret.of(sshd.password)
    options = SshOptions(host="127.0.0.1", port=sshd.port, user=sshd.user, password=password)
    with PLATFORMS.get("ssh")().booted(None, options) as machine, machine.session() as session:
        assert session.run("id -u", sudo=True).stdout_text.strip() == "0"
        assert machine.facts["harness_footprint"].startswith("none added")


def test_missing_options_are_usage_errors(tmp_path: Path) -> None:
    platform = PLATFORMS.get("ssh")()
    context = BootContext()
    with pytest.raises(InputError, match="--host"):
        platform.boot(None, SshOptions(), context)
    with pytest.raises(InputError, match="--key or --password"):
        platform.boot(None, SshOptions(host="127.0.0.1"), context)
    with pytest.raises(InputError, match="does not exist"):
        platform.boot(None, SshOptions(host="127.0.0.1", key=tmp_path / "nope"), context)


def test_unreachable_host_is_infra_error(tmp_path: Path) -> None:
    from harness.keys import generate_keypair
    from tests.test_ssh_session import free_port

    key = generate_keypair(tmp_path).private_path
    options = SshOptions(host="127.0.0.1", port=free_port(), key=key, connect_timeout=2)
    with pytest.raises(InfraError, match="failed after"):
        PLATFORMS.get("ssh")().boot(None, options, BootContext())


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


def test_cli_password_comes_from_the_environment_never_a_flag(sshd: Sshd) -> None:  # noqa: F811
    proc = subprocess.run(
        [
            "vmcert", "boot", "--platform", "ssh", "--host", "127.0.0.1",
            "--port", str(sshd.port), "--user", sshd.user, "--password",
            "--command", "sudo -n id -u",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "1", "VMCERT_SSH_PASSWORD": sshd.password},
        timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0\n"
    assert sshd.password not in proc.stdout + proc.stderr


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


# -- `vmcert certify --platform ssh`: the same core and reports as a QEMU run -------------------

JUNIT_XSD = Path(__file__).parent / "schemas" / "junit-consumer.xsd"


@pytest.fixture
def offline_image(tmp_path: Path) -> Path:
    """An image file for the offline part (the ssh platform boots nothing)."""
    path = tmp_path / "disk.vhd"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(path), "16M"],
        check=True,
    )
    return path


def _certify(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["vmcert", "certify", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "1"},
        timeout=600,
        cwd=cwd,
    )


def test_certify_with_the_ssh_platform_reports_like_a_qemu_run(
    sshd: Sshd,  # noqa: F811
    offline_image: Path,
    tmp_path: Path,
) -> None:
    import json

    import jsonschema
    import xmlschema

    from reports.json_report import load_schema

    out = tmp_path / "out"
    proc = _certify(
        "--platform", "ssh", "--host", "127.0.0.1", "--port", str(sshd.port),
        "--user", "root", "--key", str(sshd.key_path),
        "--run-dir", str(tmp_path / "run"), "--retries", "0",
        "--report", f"json:{out / 'report.json'}", "--report", f"junit:{out / 'junit.xml'}",
        str(offline_image),
    )  # fmt: skip
    assert (out / "report.json").is_file(), proc.stderr[-3000:]
    document = json.loads((out / "report.json").read_text())
    jsonschema.validate(document, load_schema())
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(out / "junit.xml"))
    (image,) = document["images"]
    assert image["infra"]["error"] is None, image["infra"]
    assert image["platform"]["name"] == "ssh"
    assert image["platform"]["facts"]["host_key_note"] == NOTE_FIRST_USE
    assert image["image"]["sparse_digest"] and image["image"]["virtual_size"]
    assert {"inspect", "boot", "settle", "checks"} <= set(image["timings"])
    online = [r for r in image["results"] if r["source"] == "online"]
    assert len(online) >= 10  # the online checks ran against the host over SSH
    assert {r["status"] for r in online} <= {"pass", "fail", "warning", "skipped", "error"}
    assert image["check_run"]["harness_footprint"]["user"] == "root"
    assert Path(image["artifacts"]["run_json"]).is_file()
    assert image["verdict"] in ("certified", "failed")
    assert proc.returncode == {"certified": 0, "failed": 1}[image["verdict"]], proc.stderr[-3000:]
    assert document["verdict"] == image["verdict"]
    assert sshd.password not in (out / "report.json").read_text()


def test_config_table_supplies_ssh_options_and_flags_override_it(
    sshd: Sshd,  # noqa: F811
    offline_image: Path,
    tmp_path: Path,
) -> None:
    import json

    from tests.test_ssh_session import free_port

    (tmp_path / "keys").mkdir()
    key = tmp_path / "keys" / "id"
    key.write_bytes(sshd.key_path.read_bytes())
    key.chmod(0o600)
    config = tmp_path / "vmcert.toml"
    config.write_text(
        "[platform.ssh]\n"
        'host = "127.0.0.1"\n'
        f"port = {free_port()}\n"  # nothing listens there: only the flag below can make it work
        'user = "nobody-here"\n'
        'key = "keys/id"\n'  # relative to the config file
    )
    report = tmp_path / "report.json"
    proc = _certify(
        "--platform", "ssh", "--config", str(config), "--port", str(sshd.port),
        "--user", "root", "--checks", "ssh_enabled", "--retries", "0",
        "--run-dir", str(tmp_path / "run"), "--report", f"json:{report}", str(offline_image),
        cwd=tmp_path / "keys",  # not the config's directory: the key path is relative to the file
    )  # fmt: skip
    assert report.is_file(), proc.stderr[-3000:]
    (image,) = json.loads(report.read_text())["images"]
    assert image["infra"]["error"] is None, image["infra"]  # host and key came from the file
    assert image["check_run"]["harness_footprint"]["user"] == "root"  # the flag won
    assert [r["id"] for r in image["results"] if r["source"] == "online"] == ["ssh_enabled"]

    # the same file through $VMCERT_CONFIG, without the port flag: the file's port is used
    proc = subprocess.run(
        ["vmcert", "boot", "--platform", "ssh", "--timeout", "2", "--command", "true"],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "1", "VMCERT_CONFIG": str(config)},
        timeout=120,
    )
    assert proc.returncode == 3 and "failed after" in proc.stderr
    assert "nobody-here@127.0.0.1" in proc.stderr
