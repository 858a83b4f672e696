"""CheckPlan: the one evaluation path (not-run waivers, policy, failed facts, waivers) and policy
profiles declared on the checks."""

from __future__ import annotations

import datetime as dt

import pytest

from checks.errors import CheckConfigError
from checks.fact import Facts
from checks.facts.image import FACT as IMAGE
from checks.model import Outcome, Params, Severity, Status
from checks.plan import CheckPlan
from checks.policy import Policy
from checks.registry import CHECKS, check, load_builtin_checks, select_checks
from checks.waivers import WaiverEntry

TODAY = dt.date(2026, 11, 24)
BIG_HISTORY = "5000 root /root/.bash_history\n"


def _checks(*ids: str) -> list:  # type: ignore[type-arg]
    load_builtin_checks()
    return [CHECKS.get(i) for i in ids]


def test_facts_needed_skips_run_false_waivers_and_facts_already_there() -> None:
    checks = _checks("bash_history", "boot_log_clean", "no_swap_on_os_disk", "os_arch_64bit")
    plan = CheckPlan(checks, waivers=[WaiverEntry("boot_log_clean", "reviewed", run=False)])
    names = [f.name for f in plan.facts_needed()]
    assert names == ["bash_history", "image", "block_devices", "swap", "uname"]
    assert "dmesg" not in names and "boot_journal" not in names
    have = Facts.from_texts({"uname": "machine=x86_64\n"})
    assert [f.name for f in plan.facts_needed(have)] == [
        "bash_history",
        "image",
        "block_devices",
        "swap",
    ]
    assert [f.name for f in plan.facts_needed(have) if f.probed] == [
        "bash_history",
        "block_devices",
        "swap",
    ]
    # an expired run = false waiver no longer keeps the check from running
    expired = WaiverEntry("boot_log_clean", "old", dt.date(2020, 1, 1), run=False)
    assert "dmesg" in [f.name for f in CheckPlan(checks, waivers=[expired]).facts_needed()]


def test_evaluate_applies_not_run_policy_failed_facts_and_waivers() -> None:
    checks = _checks("bash_history", "sudoers_no_targetpw", "boot_log_clean", "os_arch_64bit")
    waivers = [
        WaiverEntry("sudoers_no_targetpw", "old exception", dt.date(2025, 1, 1)),
        WaiverEntry("boot_log_clean", "reviewed by hand", run=False),
        WaiverEntry("os_arch_64bit", "appliance"),
    ]
    facts = Facts.from_texts(
        {"bash_history": "12 root /root/.bash_history\n", "sudoers": "/x:1:Defaults targetpw\n"},
        errors={"uname": "probe uname timed out (exit 124)"},
    )
    lisa = Policy.profile("lisa", checks)
    results = CheckPlan(checks, lisa, waivers, today=TODAY).evaluate(facts)
    by_id = {r.check_id: r for r in results}
    assert [r.check_id for r in results] == [c.id for c in checks]
    assert by_id["bash_history"].status is Status.FAIL  # lisa: any history fails
    assert by_id["bash_history"].required == "every .bash_history ≤ 0 bytes"
    assert by_id["sudoers_no_targetpw"].failed and by_id["sudoers_no_targetpw"].waiver.expired
    boot = by_id["boot_log_clean"]
    assert boot.status is Status.SKIPPED and boot.message == "not run (waiver): reviewed by hand"
    arch = by_id["os_arch_64bit"]  # its only fact failed to collect: an error, still waivable
    assert arch.status is Status.ERROR and arch.message == "probe uname timed out (exit 124)"
    assert arch.waived and not arch.failed
    default = CheckPlan(checks).evaluate(facts)
    assert {r.check_id: r.status for r in default}["bash_history"] is Status.PASS


def test_a_parse_error_makes_the_check_an_error_naming_it() -> None:
    bad = Facts.from_texts({"deprovision_state": "btime=soon\n"})
    (result,) = CheckPlan(_checks("generalized")).evaluate(bad)
    assert result.status is Status.ERROR
    assert result.message.startswith("fact deprovision_state: cannot parse its output")


def test_only_judgeable_lists_exactly_what_the_facts_can_judge() -> None:
    offline = select_checks(tag="offline")
    plan = CheckPlan(offline)
    image_only = Facts().with_value(IMAGE, object(), "offline")  # type: ignore[arg-type]
    judged = {r.check_id for r in plan.evaluate(image_only, only_judgeable=True)}
    assert judged == {c.id for c in offline if "image" in c.fact_names}
    assert plan.evaluate(Facts(), only_judgeable=True) == []
    assert len(plan.evaluate(Facts())) == len(offline)  # without the flag: every check, skipped


def test_policy_profile_values_live_on_the_checks() -> None:
    load_builtin_checks()
    alive = CHECKS.get("ssh_client_alive_interval")
    selftest = Policy.profile("selftest", list(CHECKS))
    assert selftest.params["ssh_client_alive_interval"] == {
        "warn_unless_recommended": True,
        "require_in_main_config": True,
    }
    assert dict(selftest.params_for(alive))["warn_unless_recommended"] is True
    assert dict(Policy().params_for(alive)) == dict(alive.params)
    filed = Policy.profile("lisa", [alive]).with_overrides(
        {"ssh_client_alive_interval": {"max": 200}}, "file p.toml"
    )
    assert filed.params_for(alive)["max"] == 200 and filed.params_for(alive)["min"] == 1
    assert filed.overrides[-1] == "ssh_client_alive_interval.max = 200 (file p.toml)"
    with pytest.raises(CheckConfigError, match="profile 'strict' unknown"):
        Policy.profile("strict", [alive])


def _judge(facts: Facts, params: Params) -> Outcome:
    return Outcome(Status.PASS, "", "")


@pytest.mark.parametrize(
    ("profiles", "message"),
    [
        ({"strict": {"limit": 1}}, "no profile 'strict'"),
        ({"marketplace": {"limit": 1}}, "the defaults are marketplace"),
        ({"lisa": {"limti": 1}}, "sets 'limti', which is not a parameter"),
    ],
)
def test_check_declarations_validate_their_profiles(
    profiles: dict[str, dict[str, int]], message: str
) -> None:
    with pytest.raises(CheckConfigError, match=message):
        check(
            id="demo_profiles",
            title="Demo",
            area="demo",
            severity=Severity.WARNING,
            required="",
            facts=[IMAGE],
            params={"limit": 3},
            profiles=profiles,
        )(_judge)
    assert "demo_profiles" not in CHECKS.names()
