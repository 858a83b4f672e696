"""The harness's wait for the guest to settle never turns an empty or missing answer into a verdict
(issue 12: "the harness never causes a failure it then reports").

The settle script (:func:`harness.platforms.machine.settle_script`) runs under a POSIX shell with
``systemctl``/``cloud-init`` replaced by scripts that answer as the real tools do: systemd 252's
``is-system-running --wait`` prints the final state; systemd 219 (RHEL 7) and 228 (SLES 12) refuse
``--wait`` with "systemctl: unrecognized option '--wait'" on stderr, exit 1 and print nothing. The
checks that judge the whole boot (``boot_log_clean``, ``cloud_init_error_status``) then say "not
judged" (ERROR, with the reason) when the boot was not over or the answer was empty.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks.model import Status
from harness.platforms.machine import SettleState, settle_script
from tests.test_checks_units import run

AZURE_DMI = "sys_vendor=Microsoft Corporation\nchassis_asset_tag=7783-7084-3265-9085-8269-3286-77\n"
CLEAN = "source=journal\nsystemd[1]: Started ssh.service - OpenBSD Secure Shell server.\n"
AZL3 = 'ID=azurelinux\nVERSION_ID="3.0"\n'


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}")
    path.chmod(0o755)


def _settle(tmp_path: Path, systemctl: str, cloud_init: str | None = None) -> SettleState:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "systemctl", systemctl)
    _tool(bin_dir, "sleep", "exit 0\n")  # the poll's pauses, not the test's time
    if cloud_init is not None:
        _tool(bin_dir, "cloud-init", cloud_init)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(tmp_path / "polls")}
    done = subprocess.run(
        ["sh", "-c", settle_script(10)], env=env, capture_output=True, text=True, timeout=30
    )
    return SettleState.parse(done.stdout)


# systemd 219/228: `--wait` is refused; plain is-system-running answers starting twice, then running
OLD_SYSTEMD = """case "$*" in
  *--wait*) echo "systemctl: unrecognized option '--wait'" >&2; exit 1;;
esac
n=$(cat "$STATE" 2>/dev/null || echo 0); echo $((n + 1)) >"$STATE"
if [ "$n" -lt 2 ]; then echo starting; exit 1; fi
echo running
"""
CLOUD_INIT_DONE = 'case "$*" in *--wait*) exit 0;; esac\necho "status: done"\n'


def test_systemd_without_wait_is_polled(tmp_path: Path) -> None:
    state = _settle(tmp_path, OLD_SYSTEMD, CLOUD_INIT_DONE)
    assert (state.cloud_init, state.system, state.settled) == ("done", "running", True)
    assert (tmp_path / "polls").read_text().strip() == "3"


def test_systemd_with_wait_answers_once(tmp_path: Path) -> None:
    state = _settle(tmp_path, "echo degraded\nexit 1\n")  # systemd 252: degraded exits 1
    assert (state.cloud_init, state.system, state.settled) == ("absent", "degraded", True)


def test_no_answer_is_unknown_never_a_state(tmp_path: Path) -> None:
    silent = _settle(tmp_path, "exit 1\n", "exit 1\n")  # both tools print nothing
    assert (silent.cloud_init, silent.system, silent.settled) == ("unknown", "unknown", False)
    for out in ("", "cloud_init=\nsystem=\n", "garbage\n"):
        parsed = SettleState.parse(out)
        assert (parsed.cloud_init, parsed.system, parsed.settled) == ("unknown", "unknown", False)


@pytest.mark.parametrize(
    ("settled", "status", "reason"),
    [
        ({"cloud_init": "done", "system": "unknown"}, Status.ERROR, "got no answer"),
        ({"cloud_init": "done", "system": "starting"}, Status.ERROR, "still 'starting'"),
        ({"cloud_init": "done", "system": "running"}, Status.PASS, ""),
        ({"cloud_init": "done", "system": "degraded"}, Status.PASS, ""),
        ({}, Status.PASS, ""),  # no wait recorded (supplied facts): the log is judged
    ],
)
def test_a_clean_log_of_an_unfinished_boot_is_not_judged(
    settled: dict[str, str], status: Status, reason: str
) -> None:
    footprint = {"user": "vmcert", "settled": settled}
    facts = {"boot_journal": CLEAN, "dmi": AZURE_DMI, "harness_footprint": footprint}
    result = run("boot_log_clean", facts)
    assert result.status is status and reason in result.message
    # what the log already shows is evidence, finished or not
    failing = {**facts, "boot_journal": CLEAN + "myapp[1]: error: database unreachable\n"}
    assert run("boot_log_clean", failing).status is Status.FAIL


# `cloud-init status --long` (23.4+) while a stage still runs: exit 0, as for `done`
RUNNING = (
    "status_rc=0\nstatus: running\nextended_status: running\n"
    "boot_status_code: enabled-by-generator\n### log\n"
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (RUNNING, "still running"),
        ("status_rc=0\n### log\n", "gave no answer"),  # status printed nothing
        ("status_rc=\n### log\n", "gave no answer"),  # killed before it exited
        ("### log\n", "gave no answer"),
    ],
)
def test_cloud_init_without_a_final_answer_is_not_judged(text: str, reason: str) -> None:
    result = run("cloud_init_error_status", {"cloud_init_status": text, "os_release": AZL3})
    assert result.status is Status.ERROR and reason in result.message
    done = RUNNING.replace("running", "done")
    assert (
        run("cloud_init_error_status", {"cloud_init_status": done, "os_release": AZL3}).status
        is Status.PASS
    )
    warned = text + "2024-08-30 06:40:02,114 - cc_mounts.py[WARNING]: Activate mounts: FAIL\n"
    result = run("cloud_init_error_status", {"cloud_init_status": warned, "os_release": AZL3})
    assert result.status is Status.FAIL  # what the log already shows is evidence
