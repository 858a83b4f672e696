"""``vmcert check`` against a real sshd on loopback, ``vmcert checks``, selection and plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from checks.errors import CheckConfigError
from checks.registry import select_checks
from tests.test_ssh_session import Sshd, sshd  # noqa: F401  (the session-scoped sshd fixture)

REPO = Path(__file__).resolve().parent.parent


def vmcert(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=300,
        check=False,
    )


def test_check_against_a_real_sshd_json(sshd: Sshd) -> None:  # noqa: F811
    proc = vmcert(
        "check", "--platform", "ssh", "--host", "127.0.0.1", "--port", str(sshd.port),
        "--user", "root", "--key", str(sshd.key_path), "--json",
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)
    ids = {r["id"] for r in data["results"]}
    assert {"bash_history", "ssh_client_alive_interval", "generalized", "boot_log_clean"} <= ids
    assert data["run"]["batch_mode"] == "batch" and data["run"]["execs"] == 1
    assert data["run"]["policy"] == "marketplace"
    assert data["run"]["harness_footprint"]["user"] == "root"
    # the platform says so in a typed field: an existing host's login user is the deploy user
    assert data["run"]["harness_footprint"]["login_is_deploy_user"] == "yes"
    assert data["failed"] == (proc.returncode == 1)
    by_id = {r["id"]: r for r in data["results"]}
    assert by_id["os_arch_64bit"]["status"] == "pass"
    assert by_id["os_arch_64bit"]["selftest_id"] == 49


def test_check_table_selection_and_password(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    policy = tmp_path / "p.toml"
    policy.write_text('profile = "selftest"\n[checks.openssl_version]\nmin_version = "1.0"\n')
    proc = vmcert(
        "check", "--host", "127.0.0.1", "--port", str(sshd.port), "--user", sshd.user,
        "--password", "--checks", "os_arch_64bit,openssl_version", "--policy", str(policy),
        env={"VMCERT_SSH_PASSWORD": sshd.password},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "os_arch_64bit" in proc.stdout and "openssl_version" in proc.stdout
    assert "bash_history" not in proc.stdout
    assert "policy selftest" in proc.stdout
    assert "openssl_version.min_version = '1.0'" in proc.stdout


def test_check_usage_errors_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("[checks.nope]\nx = 1\n")
    proc = vmcert("check", "--host", "127.0.0.1", "--user", "u", "--password", "--policy", str(bad))
    assert proc.returncode == 2 and "no check is called 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = vmcert("check", "--host", "127.0.0.1", "--user", "u")
    assert proc.returncode == 2 and "exactly one of --key FILE or --password" in proc.stderr
    proc = vmcert("check", "--host", "127.0.0.1", "--user", "u", "--password", "--checks", "nah")
    assert proc.returncode == 2 and "no check, area or tag is called 'nah'" in proc.stderr


def test_unreachable_host_exits_3(tmp_path: Path) -> None:
    proc = vmcert(
        "check", "--host", "127.0.0.1", "--port", "1", "--user", "u", "--password",
        env={"VMCERT_SSH_PASSWORD": "x"},
    )  # fmt: skip
    assert proc.returncode == 3 and proc.stderr.startswith("vmcert: error:")


def test_checks_lists_ids_areas_and_test_ids() -> None:
    proc = vmcert("checks", "--json")
    assert proc.returncode == 0
    rows = {r["id"]: r for r in json.loads(proc.stdout)}
    assert rows["bash_history"]["selftest_id"] == 48
    assert rows["bash_history"]["ms_test_name"] == "Bash History"
    assert rows["kernel_cmdline_rootdelay"]["severity"] == "warning"
    table = vmcert("checks", "--tag", "online")
    assert table.returncode == 0 and "ssh_client_alive_interval" in table.stdout


def test_selection_by_id_area_and_tag() -> None:
    assert [c.id for c in select_checks(["bash_history"], tag="online")] == ["bash_history"]
    ssh = {c.id for c in select_checks(["ssh"], tag="online")}
    assert ssh == {"ssh_client_alive_interval", "ssh_enabled"}
    online = {c.id for c in select_checks(tag="online")}
    no_kernel = {c.id for c in select_checks([], ["kernel"], tag="online")}
    assert "kernel_cmdline_console" in online - no_kernel
    assert "bash_history" in no_kernel
    with pytest.raises(CheckConfigError):
        select_checks(["bash_histroy"])


def test_third_party_check_through_a_real_entry_point(tmp_path: Path) -> None:
    """A dist-info directory on sys.path registers ``vmcert.checks`` entry points, as pip would."""
    (tmp_path / "vmcert_demo_checks.py").write_text(
        textwrap.dedent(
            """
            from checks.facts.os_release import FACT as OS_RELEASE
            from checks.model import Outcome, Severity, Status
            from checks.registry import check

            @check(id="demo_motd", title="MOTD mentions the vendor", area="demo",
                   severity=Severity.WARNING, required="vendor in /etc/motd",
                   facts=[OS_RELEASE], tags=["online"])
            def DEMO(facts, params):
                return Outcome(Status.PASS, "ok", "demo check ran")
            """
        )
    )
    dist = tmp_path / "vmcert_demo_checks-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vmcert-demo-checks\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text("[vmcert.checks]\ndemo_motd = vmcert_demo_checks:DEMO\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    proc = vmcert("checks", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in json.loads(proc.stdout)}
    assert rows["demo_motd"]["area"] == "demo"
    # and it is selectable by its area
    code = (
        "from checks.registry import select_checks;"
        "print([c.id for c in select_checks(['demo'], tag='online')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env={**os.environ, **env}, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "['demo_motd']"


def test_non_root_user_runs_the_batch_with_sudo_once(sshd: Sshd) -> None:  # noqa: F811
    """Root-only probes (shadow, sudoers) work for a sudo user: one exec, no probe errors."""
    from checks.registry import CHECKS, load_builtin_checks
    from harness.probe_runner import run_checks
    from harness.ssh import SshSession

    load_builtin_checks()
    checks = [CHECKS.get("no_default_credentials"), CHECKS.get("sudoers_no_targetpw")]
    with SshSession.connect("127.0.0.1", sshd.port, sshd.user, password=sshd.password) as session:
        run = run_checks(session, checks)
    assert run.execs == 1 and run.batch_mode == "batch"
    assert run.probe_errors == {}
    assert "### shadow" in run.facts.raw["accounts"]  # /etc/shadow was readable: sudo worked
    assert run.footprint["user"] == sshd.user
