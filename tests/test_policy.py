"""Policy profiles, TOML overrides and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.fact import Facts
from checks.model import Status
from checks.registry import CHECKS, load_builtin_checks
from harness.errors import ConfigError
from harness.policy import PROFILES, load_policy

SSHD_200 = "### effective\nclientaliveinterval 200\n### main_config\n9:ClientAliveInterval 200\n"


def _sshd_status(policy_spec: str | None, text: str = SSHD_200) -> Status:
    load_builtin_checks()
    policy = load_policy(policy_spec)
    check = CHECKS.get("ssh_client_alive_interval")
    return check.run(Facts.from_texts({"sshd": text}), policy.params_for(check)).status


def test_default_is_marketplace_without_overrides() -> None:
    policy = load_policy(None)
    assert policy.name == "marketplace" and policy.overrides == ()
    assert _sshd_status(None) is Status.PASS


def test_profiles_disagree_exactly_where_the_sources_do() -> None:
    assert set(PROFILES) == {"marketplace", "selftest", "lisa"}
    assert _sshd_status("selftest") is Status.WARNING  # not exactly 180
    assert _sshd_status("lisa") is Status.PASS  # LISA today: 1-235 (1-180 in 2024)
    sshd_20 = SSHD_200.replace("200", "20")
    assert _sshd_status("lisa", sshd_20) is Status.PASS  # LISA accepts > 0
    assert _sshd_status("marketplace", sshd_20) is Status.FAIL  # the docs: 30-235
    sshd_180 = SSHD_200.replace("200", "180")
    assert {_sshd_status(p, sshd_180) for p in PROFILES} == {Status.PASS}
    sshd_240 = SSHD_200.replace("200", "240")
    assert {_sshd_status(p, sshd_240) for p in PROFILES} == {Status.FAIL}
    selftest = load_policy("selftest")
    assert any(line.startswith("kernel_cmdline_rootdelay.mode") for line in selftest.overrides)


def test_toml_file_overrides_a_threshold_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "strict.toml"
    path.write_text('profile = "lisa"\n[checks.ssh_client_alive_interval]\nmax = 200\n')
    policy = load_policy(str(path))
    assert policy.name == "lisa" and policy.source == str(path)
    assert f"ssh_client_alive_interval.max = 200 (file {path})" in policy.overrides
    assert "ssh_client_alive_interval.min = 1 (profile lisa)" in policy.overrides
    assert _sshd_status(str(path)) is Status.PASS
    assert "lisa from" in policy.describe()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[checks.no_such_check]\nmax = 1\n", "no check is called 'no_such_check'"),
        ("[checks.ssh_client_alive_interval]\nmaxx = 1\n", "has no parameter 'maxx'"),
        ('[checks.ssh_client_alive_interval]\nmax = "200"\n', "must be a int"),
        ('profile = "strict"\n', "profile 'strict' unknown"),
        ("[checks\n", "not valid TOML"),
        ("threshold = 3\n", "unknown key(s) threshold"),
        ("checks = 3\n", "[checks.<check id>]"),
    ],
)
def test_bad_policy_files_are_one_line_config_errors(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_policy(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value) or "profile" in message


def test_unknown_profile_name_that_is_not_a_file() -> None:
    with pytest.raises(ConfigError, match="neither a profile"):
        load_policy("strictest")
