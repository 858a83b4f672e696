"""Facts read from systemd: no answer is an ERROR naming why, never a verdict against the image.

Under heavy load `systemctl show` answered nothing and `ssh_enabled` failed a good image ("-/-"
for every unit). Each probe runs here by a real ``sh`` against a ``systemctl`` that replays what
systemd printed: the recorded answers of systemd 252 (Debian 12, the good test image) and the
failures (a bus time-out, an empty answer, no systemctl at all).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks.facts.agent_service import FACT as AGENT_SERVICE
from checks.facts.boot_journal import FACT as BOOT_JOURNAL
from checks.facts.hv_kvp import FACT as HV_KVP
from checks.facts.ssh_service import FACT as SSH_SERVICE
from checks.model import Status
from tests.test_checks_units import run

P, F, E = Status.PASS, Status.FAIL, Status.ERROR
AZL3 = 'NAME="Microsoft Azure Linux"\nID=azurelinux\nVERSION_ID="3.0"\n'

# `systemctl show -p Id -p ActiveState -p UnitFileState ssh.service sshd.service ssh.socket
# sshd.socket` on the booted good image (systemd 252): systemd prints properties in its own order
DEBIAN12_SSH_SHOW = (
    "Id=ssh.service\nActiveState=active\nUnitFileState=enabled\n\n"
    "Id=ssh.service\nActiveState=active\nUnitFileState=enabled\n\n"
    "Id=ssh.socket\nActiveState=inactive\nUnitFileState=disabled\n\n"
    "Id=sshd.socket\nActiveState=inactive\nUnitFileState=\n"
)
SS_22 = "LISTEN 0      128          0.0.0.0:22        0.0.0.0:*\n"
# what systemctl prints when it cannot reach systemd in time (exit status 1)
BUS_TIMEOUT = "Failed to get properties: Connection timed out"


def _probe(tmp_path: Path, script: str, tools: dict[str, str]) -> str:
    """Run a probe text with ``tools`` (name -> shell body) first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in tools.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _replay(stdout: str, stderr: str = "", status: int = 0) -> str:
    return (
        f"printf '%s' '{stdout}'\n"
        + (f"echo '{stderr}' >&2\n" if stderr else "")
        + f"exit {status}\n"
    )


FAILURES = {
    "bus time-out": _replay("", BUS_TIMEOUT, 1),
    "empty answer": _replay(""),
    "answer for one unit only": _replay("Id=ssh.service\nActiveState=active\n"),
}


def test_ssh_enabled_passes_the_recorded_answer(tmp_path: Path) -> None:
    tools = {"systemctl": _replay(DEBIAN12_SSH_SHOW), "ss": f"printf '{SS_22}'\n"}
    out = _probe(tmp_path, SSH_SERVICE.script, tools)
    assert out.startswith("ssh.service enabled=enabled active=active\n")
    assert run("ssh_enabled", {"ssh_service": out}).status is P


@pytest.mark.parametrize("systemctl", FAILURES.values(), ids=FAILURES)
def test_ssh_enabled_is_an_error_when_systemd_does_not_answer(
    tmp_path: Path, systemctl: str
) -> None:
    out = _probe(tmp_path, SSH_SERVICE.script, {"systemctl": systemctl, "ss": f"printf '{SS_22}'"})
    assert "enabled= active=" not in out  # no unit reads "-/-"
    result = run("ssh_enabled", {"ssh_service": out})
    assert result.status is E
    assert result.message.startswith("systemd did not answer: systemctl show exited")
    if systemctl == FAILURES["bus time-out"]:
        assert result.message.endswith(f"exited 1 and answered for 0 of 4 units: {BUS_TIMEOUT}")


def test_ssh_enabled_is_an_error_without_systemctl(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {"PATH": str(bin_dir)}  # no systemctl, no ss
    out = subprocess.run(
        ["/bin/sh", "-c", SSH_SERVICE.script], capture_output=True, text=True, env=env, check=True
    ).stdout
    result = run("ssh_enabled", {"ssh_service": out})
    assert result.status is E and "exited 127" in result.message


def test_a_real_disabled_service_still_fails(tmp_path: Path) -> None:
    show = DEBIAN12_SSH_SHOW.replace(
        "active\nUnitFileState=enabled", "inactive\nUnitFileState=disabled"
    )
    out = _probe(tmp_path, SSH_SERVICE.script, {"systemctl": _replay(show), "ss": "exit 0\n"})
    assert run("ssh_enabled", {"ssh_service": out}).status is F


AGENT_SHOW = (
    "Id=walinuxagent.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=enabled\n\n"
    "Id=waagent.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n"
)


def test_agent_enabled_on_no_answer_is_an_error(tmp_path: Path) -> None:
    facts = {"agent_version": "package=2.9.1.1\n", "waagent_conf": ""}
    good = _probe(tmp_path, AGENT_SERVICE.script, {"systemctl": _replay(AGENT_SHOW)})
    assert run("linux_agent_enabled", dict(facts, agent_service=good)).status is P
    masked = AGENT_SHOW.replace("LoadState=loaded", "LoadState=masked").replace(
        "UnitFileState=enabled", "UnitFileState=masked"
    )
    bad = _probe(tmp_path, AGENT_SERVICE.script, {"systemctl": _replay(masked)})
    assert run("linux_agent_enabled", dict(facts, agent_service=bad)).status is F
    for systemctl in FAILURES.values():
        out = _probe(tmp_path, AGENT_SERVICE.script, {"systemctl": systemctl})
        result = run("linux_agent_enabled", dict(facts, agent_service=out))
        assert result.status is E and "systemd did not answer" in result.message


def test_hv_kvp_on_no_answer_is_an_error_where_required(tmp_path: Path) -> None:
    out = _probe(tmp_path, HV_KVP.script, {"systemctl": FAILURES["bus time-out"]})
    assert out.startswith("systemd-error=")
    # the probe looks for the binary at absolute paths: add the line it prints on Azure Linux
    text = "binary=/usr/sbin/hv_kvp_daemon\n" + out
    assert run("hv_kvp_daemon", {"hv_kvp": text, "os_release": AZL3}).status is E
    enabled = "binary=/usr/sbin/hv_kvp_daemon\nunit=hv-kvp-daemon.service enabled\n"
    assert run("hv_kvp_daemon", {"hv_kvp": enabled, "os_release": AZL3}).status is P
    assert run("hv_kvp_daemon", {"hv_kvp": "", "os_release": AZL3}).status is F


@pytest.mark.skipif(
    Path("/var/log/syslog").exists() or Path("/var/log/messages").exists(),
    reason="the probe would read this host's log file instead of the journal",
)
def test_boot_log_clean_on_an_unreadable_journal_is_an_error(tmp_path: Path) -> None:
    unreadable = "echo 'No journal files were found.' >&2\nexit 1\n"
    out = _probe(tmp_path, BOOT_JOURNAL.script, {"journalctl": unreadable})
    result = run("boot_log_clean", {"boot_journal": out})
    assert result.status is E
    assert result.message == "the journal: journalctl printed nothing: No journal files were found."
    clean = "echo '[    1.0] systemd[1]: Started ssh.service.'\n"
    out = _probe(tmp_path, BOOT_JOURNAL.script, {"journalctl": clean})
    assert out == "source=journal\n"
    assert run("boot_log_clean", {"boot_journal": out}).status is P
