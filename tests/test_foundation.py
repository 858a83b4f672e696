"""The shared foundation: registries, the check model and the CLI's error contract."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from checks.errors import CheckConfigError
from checks.fact import Facts, supplied
from checks.model import Check, Outcome, Severity, Status, Waiver
from harness.cli import COMMANDS, cli
from harness.errors import ExitCode
from images.registry import Registry, UnknownPluginError

A, B = supplied("a", int), supplied("b", int)


def _facts(**values: int) -> Facts:
    facts = Facts()
    for fact in (A, B):
        if fact.name in values:
            facts = facts.with_value(fact, values[fact.name], "test")
    return facts


def _check(evaluate, facts=(A, B), **kw):  # type: ignore[no-untyped-def]
    return Check(
        id="demo",
        title="Demo",
        area="test",
        severity=Severity.FAIL,
        required="at most {limit}",
        facts=facts,
        evaluate=evaluate,
        params={"limit": 3},
        **kw,
    )


def test_registry_lists_known_names_on_unknown_lookup() -> None:
    registry: Registry[int] = Registry("widget", "vmcert.test-widgets")
    registry.add("one", 1)
    assert registry.get("one") == 1
    with pytest.raises(UnknownPluginError, match=r"unknown widget 'two' \(known: one\)"):
        registry.get("two")
    with pytest.raises(ValueError):
        registry.add("one", 2)


def test_check_formats_required_with_overridden_params() -> None:
    demo = _check(lambda facts, params: Outcome(Status.PASS, str(facts.get(A)), "ok"))
    result = demo.run(_facts(a=1), {"limit": 7})
    assert result.status is Status.PASS
    assert result.required == "at most 7"
    with pytest.raises(CheckConfigError, match="no parameter 'nope'"):
        demo.run(_facts(a=1), {"nope": 1})


def test_check_skips_without_facts_and_errors_on_crash() -> None:
    demo = _check(lambda facts, params: Outcome(Status.PASS, str(1 / 0), ""))
    assert demo.run(_facts()).status is Status.SKIPPED
    crashed = demo.run(_facts(b=1))
    assert crashed.status is Status.ERROR
    assert "ZeroDivisionError" in crashed.message
    strict = _check(lambda facts, params: Outcome(Status.PASS, "", ""), needs_all_facts=True)
    assert strict.run(_facts(a=1)).status is Status.SKIPPED


def test_waiver_excuses_failures_until_expired() -> None:
    demo = _check(lambda facts, params: Outcome(Status.FAIL, "5", "too many"))
    failed = demo.run(_facts(a=1))
    assert failed.failed
    waived = failed.with_waiver(Waiver("demo", "known", "2099-01-01"))
    assert waived.waived and not waived.failed
    expired = failed.with_waiver(Waiver("demo", "known", "2000-01-01", expired=True))
    assert expired.failed and not expired.waived


def test_cli_unknown_command_is_usage_error_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "no-such-command"], capture_output=True, text=True
    )
    assert proc.returncode == ExitCode.USAGE
    assert "Traceback" not in proc.stderr
    assert "No such command" in proc.stderr


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_imports_and_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and name in result.output


def test_split_list_takes_repeats_and_commas() -> None:
    from harness.cli.options import split_list

    assert split_list(["eastus,westeurope", " southeastasia ", ",", ""]) == [
        "eastus",
        "westeurope",
        "southeastasia",
    ]
