"""``cloud_init_status`` reads /run/cloud-init instead of starting ``cloud-init status`` (a Python
start, seconds under TCG, on every family) and keeps its exit code and status word.

The cases are cloud-init's own documented outputs (``tests/unittests/cmd/test_status.py`` of
canonical/cloud-init at 04eacd0, ``test_status_output`` and ``test_status_returns_not_run``):
the status.json it writes, whether result.json exists, and what ``cloud-init status`` printed
and returned. The probe runs by a real ``sh`` on a tree with those files; a ``cloud-init`` on
PATH replays the documented output and records whether it was started.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from checks.facts.cloud_init_status import FACT, parse
from checks.model import Status
from tests.test_checks_units import run

AZL3 = 'NAME="Microsoft Azure Linux"\nID=azurelinux\nVERSION_ID="3.0"\n'
NOCLOUD = "DataSourceNoCloud [seed=/var/.../seed/nocloud-net][dsmode=net]"

DONE = {
    "v1": {
        "stage": None,
        "datasource": NOCLOUD,
        "blah": {"finished": 123.456},
        "init": {"errors": [], "start": 124.567, "finished": 125.678},
        "init-local": {"start": 123.45, "finished": 123.46},
    }
}
ON_ERRORS = {
    "v1": {
        "stage": None,
        "blah": {"errors": [], "finished": 123.456},
        "init": {"errors": ["error1"], "start": 124.567, "finished": 125.678},
        "init-local": {"start": 123.45, "finished": 123.46},
    }
}
RECOVERABLE = {
    "v1": {
        "stage": None,
        "datasource": NOCLOUD,
        "modules-final": {
            "errors": [],
            "recoverable_errors": {
                "DEPRECATED": ["don't try to open the hatch or we'll all be soup"]
            },
            "start": 127.567,
            "finished": 128.678,
        },
        "init-local": {
            "errors": [],
            "recoverable_errors": {"ERROR": ["the ion field reactor just transmutated"]},
            "start": 123.45,
            "finished": 123.46,
        },
    }
}

# (status.json or None, result.json exists, boot lines, exit code, status word) as cloud-init
# documents them; the boot lines give the documented boot code (enabled by the generator unless
# the case says otherwise)
CASES = {
    "done": (DONE, True, "", 0, "done"),
    "on_errors": (ON_ERRORS, True, "", 1, "error"),
    "recoverable_errors": (RECOVERABLE, True, "", 2, "done"),
    "not_run": (None, False, "", 0, "not started"),
    "disabled_by_marker_file": (None, False, "marker", 0, "disabled"),
    "disabled_on_the_command_line": (None, False, "cmdline", 0, "disabled"),
}


def _tree(tmp_path: Path, status: dict[str, object] | None, result: bool, boot: str) -> Path:
    root = tmp_path / "root"
    run_dir = root / "run/cloud-init"
    run_dir.mkdir(parents=True)
    (root / "etc/cloud").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "var/log").mkdir(parents=True)
    (run_dir / "enabled").write_text("")
    if status is not None:  # written as cloud-init writes it (atomic_helper.write_json)
        (run_dir / "status.json").write_text(json.dumps(status, indent=1, sort_keys=True))
    if result:
        (run_dir / "result.json").write_text(json.dumps({"v1": {"errors": []}}, indent=1))
    if boot == "marker":
        (root / "etc/cloud/cloud-init.disabled").write_text("")
    cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 console=ttyS0"
    (root / "proc/cmdline").write_text(
        cmdline + (" cloud-init=disabled" if boot == "cmdline" else "") + "\n"
    )
    (root / "var/log/cloud-init.log").write_text(
        "2024-08-30 06:40:01,001 - util.py[DEBUG]: Cloud-init v. 24.1 running 'init'\n"
    )
    return root


def _probe(tmp_path: Path, root: Path, replay: str = "exit 0\n") -> tuple[str, bool]:
    """The probe's output on ``root`` and whether it started ``cloud-init``."""
    text = FACT.script
    for path in ("/run/cloud-init", "/etc/cloud/", "/proc/cmdline", "/var/log/cloud-init.log"):
        assert path in text
        text = text.replace(path, f"{root}{path}")
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "cloud-init").write_text(f'#!/bin/sh\necho "$*" >>{calls}\n{replay}')
    (bin_dir / "cloud-init").chmod(0o755)
    done = subprocess.run(
        ["sh", "-c", text],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        check=True,
    )
    return done.stdout, calls.exists()


@pytest.mark.parametrize(("status", "result", "boot", "rc", "word"), CASES.values(), ids=CASES)
def test_status_from_the_files_is_cloud_inits_own(
    tmp_path: Path, status: dict[str, object] | None, result: bool, boot: str, rc: int, word: str
) -> None:
    out, started = _probe(tmp_path, _tree(tmp_path, status, result, boot))
    assert not started  # no Python start
    fact = parse(out)
    assert (fact.present, fact.status_rc, fact.status) == (True, rc, word)
    # the verdict is the one the `cloud-init status` output gave
    recorded = f"status_rc={rc}\nstatus: {word}\n### log\n"
    for text in (out, recorded):
        verdict = run("cloud_init_error_status", {"cloud_init_status": text, "os_release": AZL3})
        assert verdict.status is (Status.PASS if rc == 0 else Status.FAIL)


def test_while_cloud_init_runs_its_own_status_is_asked(tmp_path: Path) -> None:
    """status.json without result.json: ``cloud-init status`` also asks systemd whether a stage
    failed, so the probe runs it (cloud-init's ``on_errors_long`` case, exit 1)."""
    long = (
        "status: error\nextended_status: error - running\n"
        "boot_status_code: enabled-by-kernel-command-line\n"
        "last_update: Thu, 01 Jan 1970 00:02:05 +0000\n"
        f"detail: {NOCLOUD}\nerrors:\n\t- error1\n\t- error2\n\t- error3\n"
        "recoverable_errors: {}\n"
    )
    root = _tree(tmp_path, ON_ERRORS, False, "")
    out, started = _probe(tmp_path, root, f"printf '%s' '{long}'\nexit 1\n")
    assert started
    assert out.startswith("status_rc=1\nstatus: error\nextended_status: error - running\n")
    fact = parse(out)
    assert (fact.status_rc, fact.status) == (1, "error")
    verdict = run("cloud_init_error_status", {"cloud_init_status": out, "os_release": AZL3})
    assert verdict.status is Status.FAIL


def test_log_problems_and_absence(tmp_path: Path) -> None:
    root = _tree(tmp_path, DONE, True, "")
    warning = "2024-08-30 06:40:02,114 - cc_mounts.py[WARNING]: Activate mounts: FAIL\n"
    with (root / "var/log/cloud-init.log").open("a") as log:
        log.write(warning)
    out, _ = _probe(tmp_path, root)
    assert parse(out).log_problems == (warning.strip(),)
    verdict = run("cloud_init_error_status", {"cloud_init_status": out, "os_release": AZL3})
    assert verdict.status is Status.FAIL
    assert parse("absent\n### log\n").present is False
    assert parse("### boot\ncmdline=\n### status.json\n{not json\n### log\n").status_rc == 1
