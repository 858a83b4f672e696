"""Waiver files (TOML and YAML): waived, expired and not-run entries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from checks.fact import Facts
from checks.model import Status
from checks.registry import CHECKS, load_builtin_checks
from checks.waivers import apply_waivers
from harness.errors import ConfigError
from harness.probe_runner import run_checks
from harness.waivers import load_waivers
from tests.test_probe_runner import LocalShell

TODAY = dt.date(2026, 11, 24)

TOML = """
[[waiver]]
check = "bash_history"
justification = "history is part of the demo (ticket 12)"
expires = 2027-01-31

[[waiver]]
check = "sudoers_no_targetpw"
justification = "old exception"
expires = "2025-01-01"

[[waiver]]
check = "boot_log_clean"
justification = "boot log reviewed manually"
run = false
"""

YAML = """
waivers:
  - check: bash_history
    justification: history is part of the demo (ticket 12)
    expires: 2027-01-31
  - check: sudoers_no_targetpw
    justification: old exception
    expires: 2025-01-01
  - check: boot_log_clean
    justification: boot log reviewed manually
    run: false
"""


@pytest.mark.parametrize(("suffix", "text"), [(".toml", TOML), (".yaml", YAML)])
def test_both_formats_parse_the_same(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"w{suffix}"
    path.write_text(text)
    entries = load_waivers(path)
    assert [(e.check_id, e.expires, e.run) for e in entries] == [
        ("bash_history", dt.date(2027, 1, 31), True),
        ("sudoers_no_targetpw", dt.date(2025, 1, 1), True),
        ("boot_log_clean", None, False),
    ]
    assert entries[1].expired(TODAY) and not entries[0].expired(TODAY)


def test_waived_expired_and_not_run(tmp_path: Path) -> None:
    load_builtin_checks()
    path = tmp_path / "w.toml"
    path.write_text(TOML)
    entries = load_waivers(path, CHECKS.names())
    checks = [CHECKS.get(i) for i in ("bash_history", "sudoers_no_targetpw", "boot_log_clean")]
    shell = LocalShell()
    run = run_checks(
        shell,
        checks,
        waivers=entries,
        offline_facts=Facts.from_texts(
            {
                "bash_history": "5000 root /root/.bash_history\n",
                "sudoers": "/etc/sudoers:3:Defaults targetpw\n",
            },
            source="offline",
        ),
        today=TODAY,
    )
    by_id = {r.check_id: r for r in run.results}
    history = by_id["bash_history"]
    assert history.status is Status.FAIL and history.waived and not history.failed
    sudoers = by_id["sudoers_no_targetpw"]
    assert sudoers.waiver is not None and sudoers.waiver.expired
    assert sudoers.failed and not sudoers.waived
    boot = by_id["boot_log_clean"]
    assert boot.status is Status.SKIPPED and "boot log reviewed manually" in boot.message
    # run = false: its probes (dmesg, boot_journal) were never sent
    assert "dmesg" not in run.probe_timings and "boot_journal" not in run.probe_timings
    assert run.failed  # the expired waiver no longer excuses the sudoers failure


def test_apply_waivers_only_attaches(tmp_path: Path) -> None:
    load_builtin_checks()
    check = CHECKS.get("os_arch_64bit")
    result = check.run(Facts.from_texts({"uname": "machine=i686\n"}))
    path = tmp_path / "w.yml"
    path.write_text("- check: os_arch_64bit\n  justification: 32-bit appliance\n")
    (waived,) = apply_waivers([result], load_waivers(path), TODAY)
    assert waived.status is Status.FAIL and waived.waived and not waived.failed


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.toml", '[[waiver]]\ncheck = "bash_history"\n', "justification"),
        ("a.toml", '[[waiver]]\njustification = "x"\n', "`check`"),
        ("a.toml", '[[waiver]]\ncheck = "nope"\njustification = "x"\n', "no check is called"),
        (
            "a.toml",
            '[[waiver]]\ncheck = "bash_history"\njustification = "x"\nexpires = "soon"\n',
            "expires must be a date",
        ),
        (
            "a.toml",
            '[[waiver]]\ncheck = "bash_history"\njustification = "x"\nrun = "no"\n',
            "`run` must be",
        ),
        (
            "a.toml",
            '[[waiver]]\ncheck = "bash_history"\njustification = "x"\nowner = "me"\n',
            "unknown key(s) owner",
        ),
        ("a.yaml", "- check: [unclosed\n", "not valid YAML"),
        ("a.toml", "[[waiver]\n", "not valid TOML"),
        ("a.json", "[]", "must end in .toml"),
        ("a.yaml", "waivers: 3\n", "expected a list"),
    ],
)
def test_bad_waiver_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    load_builtin_checks()
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_waivers(path, CHECKS.names())
    assert message in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_waiver_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_waivers(tmp_path / "none.toml")
