"""The batched probe executor, run for real by a local POSIX shell (``sh -s``, as over SSH)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

from checks.fact import FACTS, Fact, Facts, load_builtin_facts
from checks.family import detect_family
from checks.parsing import sections
from harness.probe_runner import (
    BatchError,
    build_script,
    parse_output,
    run_checks,
    run_probes,
)


@dataclass
class _Result:
    exit_status: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


class LocalShell:
    """Runs scripts exactly as ``SshSession.run_script`` does on the guest: fed to ``sh -s``.

    ``garble`` corrupts the batch output (to exercise the fallback); ``execs`` counts calls.
    """

    user = "tester"

    def __init__(self, garble: bool = False, raise_on_batch: bool = False) -> None:
        self.garble = garble
        self.raise_on_batch = raise_on_batch
        self.execs = 0
        self.scripts: list[str] = []

    def run_script(self, script: str, *, timeout: float, sudo: bool, max_output: int) -> _Result:
        self.execs += 1
        self.scripts.append(script)
        batch = script.count("\nvmcert_start ") > 2
        if batch and self.raise_on_batch:
            raise OSError("channel closed")
        proc = subprocess.run(
            ["sh", "-s"], input=script.encode(), capture_output=True, timeout=timeout, check=False
        )
        out = proc.stdout[:max_output]
        if batch and self.garble:
            out = out.replace(b" P 1 ", b" P\x001 ", 1)
        return _Result(proc.returncode, out, proc.stderr)


def _probes() -> dict[str, Fact[object]]:
    """Every built-in fact that has a probe, by name."""
    load_builtin_facts()
    return {f.name: f for f in FACTS if f.probed}


def _p(name: str, script: str, **kw: object) -> Fact[str]:
    return Fact(name=name, parse=str, script=script + "\n", **kw)  # type: ignore[arg-type]


def test_batch_runs_all_probes_in_one_exec_with_status_and_caps() -> None:
    probes = [
        _p("ok", "echo hello; echo warn >&2"),
        _p("fails", "echo partial; exit 3"),
        _p("big", "head -c 5000 /dev/zero | tr '\\0' x", max_output=100),
        _p("quoted", "printf '%s\\n' \"it's\" '$HOME' '### section'"),
        _p("slow", "sleep 5; echo never", timeout=1),
    ]
    shell = LocalShell()
    run = run_probes(shell, probes)
    assert shell.execs == 1 and run.mode == "batch" and run.fallback_reason is None
    out = run.outputs
    assert out["ok"].stdout == "hello\n" and out["ok"].stderr == "warn\n" and out["ok"].ok
    assert out["fails"].exit_status == 3 and out["fails"].stdout == "partial\n"
    assert len(out["big"].stdout) == 100
    assert out["big"].stdout_bytes == 5000 and out["big"].stdout_dropped == 4900
    assert out["quoted"].stdout == "it's\n$HOME\n### section\n"
    assert out["slow"].timed_out and "never" not in out["slow"].stdout
    assert set(run.facts()) == {"ok", "big", "quoted"}
    assert "timed out" in run.errors()["slow"] and "exited 3" in run.errors()["fails"]


def test_per_probe_time_limit_does_not_stop_the_batch() -> None:
    probes = [_p("slow", "sleep 10", timeout=1), _p("after", "echo still-ran")]
    run = run_probes(LocalShell(), probes)
    assert run.outputs["slow"].timed_out
    assert run.outputs["after"].stdout == "still-ran\n"
    assert run.outputs["slow"].duration < 5


def test_garbled_batch_falls_back_to_one_exec_per_probe_and_says_so() -> None:
    probes = [_p(f"p{i}", f"echo {i}") for i in range(4)]
    shell = LocalShell(garble=True)
    run = run_probes(shell, probes)
    assert run.mode == "per-probe"
    assert run.fallback_reason is not None and "markers missing or garbled" in run.fallback_reason
    assert shell.execs == 1 + 4
    assert {n: o.stdout for n, o in run.outputs.items()} == {f"p{i}": f"{i}\n" for i in range(4)}


def test_exec_error_falls_back_too() -> None:
    probes = [_p(f"p{i}", f"echo {i}") for i in range(3)]
    run = run_probes(LocalShell(raise_on_batch=True), probes)
    assert run.mode == "per-probe" and "OSError: channel closed" in (run.fallback_reason or "")
    assert run.facts() == {"p0": "0\n", "p1": "1\n", "p2": "2\n"}


def test_parse_rejects_missing_markers() -> None:
    probes = [_p("a", "echo a"), _p("b", "echo b")]
    script, token = build_script(probes)
    with pytest.raises(BatchError, match="b"):
        parse_output(f"{token} P 0 0 5 2 0\n{token} DATA\na\n".encode(), token, probes)
    assert token in script


def test_family_specific_text_is_chosen_on_the_guest() -> None:
    probe = Fact(
        name="fam",
        parse=str,
        script="echo default\n",
        family_scripts={"debian": "echo deb\n", "rhel": "echo rpm\n"},
    )
    run = run_probes(LocalShell(), [probe])
    with open("/etc/os-release") as fh:
        family = detect_family(fh.read())
    expected = {"debian": "deb\n", "rhel": "rpm\n"}.get(family, "default\n")
    assert run.family == family
    assert run.outputs["fam"].stdout == expected


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ('ID=debian\nVERSION_ID="12"\n', "debian"),
        ("ID=ubuntu\nID_LIKE=debian\n", "debian"),
        ('ID="rhel"\nID_LIKE="fedora"\n', "rhel"),
        ('ID="almalinux"\nID_LIKE="rhel centos fedora"\n', "rhel"),
        ('ID="sles"\nID_LIKE="suse"\n', "suse"),
        ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', "suse"),
        ("ID=mariner\n", "azurelinux"),
        ("ID=azurelinux\n", "azurelinux"),
        ("ID=alpine\n", "unknown"),
    ],
)
def test_detect_family(text: str, family: str) -> None:
    assert detect_family(text) == family


def test_all_builtin_probes_run_on_this_host_in_one_exec() -> None:
    """The real probe texts are valid shell and each yields its fact (as a non-root user)."""
    shell = LocalShell()
    probes = _probes()
    run = run_probes(shell, probes.values())
    assert shell.execs == 1 and run.mode == "batch"
    assert set(run.outputs) == set(probes)
    for name, out in run.outputs.items():
        assert out.exit_status == 0, (name, out.stderr)
    assert "machine=" in run.outputs["uname"].stdout
    assert set(sections(run.outputs["sshd"].stdout)) >= {"effective", "main_config"}


def test_probes_use_absolute_paths_for_sbin_tools() -> None:
    """Pitfall 10: a non-root Debian session has no /sbin in PATH."""
    probes = _probes()
    assert "/usr/sbin/sshd" in probes["sshd"].script
    assert "/bin/lsblk" in probes["block_devices"].script
    script, _ = build_script(list(probes.values()))
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in script


def test_run_checks_on_a_session_collects_only_needed_probes() -> None:
    from checks.registry import CHECKS, load_builtin_checks

    load_builtin_checks()
    shell = LocalShell()
    checks = [CHECKS.get("os_arch_64bit"), CHECKS.get("openssl_version")]
    run = run_checks(shell, checks)
    assert shell.execs == 1
    assert set(run.probe_timings) == {"uname", "openssl"}
    assert [r.check_id for r in run.results] == ["os_arch_64bit", "openssl_version"]
    assert run.batch_mode == "batch" and run.policy_name == "marketplace"
    assert run.footprint["user"] == "tester"
    assert run.run_facts()["batch_mode"] == "batch"


def test_parallel_batch_takes_about_the_slowest_probe_and_keeps_order() -> None:
    """Probes run as background jobs of one shell; output order and statuses are unchanged."""
    probes = [_p(f"s{i}", f"sleep 1; echo {i}; exit {i}") for i in range(5)]
    parallel = run_probes(LocalShell(), probes)
    sequential = run_probes(LocalShell(), probes, parallel=False)
    for run in (parallel, sequential):
        assert list(run.outputs) == [f"s{i}" for i in range(5)]
        assert [o.exit_status for o in run.outputs.values()] == list(range(5))
        assert [o.stdout for o in run.outputs.values()] == [f"{i}\n" for i in range(5)]
    # structural, not a timing assertion: the parallel script backgrounds every job, then waits
    script, _ = build_script(probes)
    assert script.count("\nvmcert_start ") == 5 and "wait $!" not in script
    assert "wait $VMCERT_PIDS" in script
    script, _ = build_script(probes, parallel=False)
    assert script.count("\nvmcert_start ") == 5 and script.count("wait $!") == 5


def _run_local(script: str) -> bytes:
    done = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, check=True)
    return done.stdout


def test_output_cannot_forge_the_framing() -> None:
    """Outputs are cut by byte counts, so a probe printing the markers changes nothing."""
    token = "VMCERTfixedtoken"
    probes = [
        _p("forger", f"printf '{token} DONE\\n{token} P 1 0 0 0 0\\n'; printf 'x' >&2"),
        _p("after", "printf 'no newline'"),
        _p("noisy", "head -c 5000 /dev/zero | tr '\\0' e >&2; echo ok"),
    ]
    script, _ = build_script(probes, token)
    outputs, _family = parse_output(_run_local(script), token, probes)
    assert outputs["forger"].stdout == f"{token} DONE\n{token} P 1 0 0 0 0\n"
    assert outputs["forger"].stderr == "x"
    assert outputs["after"].stdout == "no newline" and outputs["after"].ok
    assert outputs["noisy"].stdout == "ok\n" and len(outputs["noisy"].stderr) == 4096


def test_stream_that_does_not_add_up_is_rejected() -> None:
    token = "VMCERTfixedtoken"
    probes = [_p("a", "echo aaaa")]
    script, _ = build_script(probes, token)
    good = _run_local(script)
    assert parse_output(good, token, probes)[0]["a"].stdout == "aaaa\n"
    with pytest.raises(BatchError, match="does not match"):
        parse_output(good.replace(b"aaaa", b"aaaaa"), token, probes)


def _leftover(marker: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if marker in line and "ps -eo" not in line]


def test_time_limit_kills_the_whole_probe_tree() -> None:
    """TERM reaches every process the probe started, not only its shell (as ``timeout`` does)."""
    probes = [
        _p("tree", "sleep 41.25 | sleep 41.25 & sleep 41.25; echo never", timeout=1),
        _p("quick", "echo fine"),
    ]
    run = run_probes(LocalShell(), probes)
    assert run.outputs["tree"].exit_status == 124 and run.outputs["quick"].ok
    assert run.outputs["tree"].duration < 4
    assert _leftover("sleep 41.25") == []


def test_a_probe_that_ignores_term_is_killed_after_the_grace_period() -> None:
    probes = [_p("stubborn", "trap '' TERM; sleep 42.5; echo never", timeout=1)]
    run = run_probes(LocalShell(), probes)
    out = run.outputs["stubborn"]
    assert out.exit_status == 137 and out.timed_out and "never" not in out.stdout
    assert 2 <= out.duration < 6
    assert _leftover("sleep 42.5") == []


def test_collect_parses_outputs_and_reports_how() -> None:
    """collect(): probed facts in one exec, parsed; supplied facts skipped; failures named."""
    from checks.facts.image import FACT as IMAGE
    from checks.facts.sshd import FACT as SSHD
    from harness.collect import collect

    def number(text: str) -> int:
        return int(text)

    good = Fact(name="good", parse=number, script="echo 42\n")
    odd = Fact(name="odd", parse=number, script="echo forty-two\n")
    fails = Fact(name="fails", parse=number, script="echo oops >&2; exit 3\n")
    shell = LocalShell()
    collection = collect(shell, [good, odd, fails, IMAGE, good])
    assert shell.execs == 1 and collection.mode == "batch" and collection.execs == 1
    assert collection.facts.get(good) == 42 and collection.facts.sources["good"] == "online"
    assert "odd" not in collection.facts and "cannot parse" in collection.facts.errors["odd"]
    assert collection.facts.errors["fails"] == "probe fails exited 3: oops"
    assert set(collection.timings) == {"good", "odd", "fails"}
    run_facts = collection.run_facts()
    assert set(run_facts) == {
        "batch_mode",
        "fallback_reason",
        "execs",
        "probe_wall_time",
        "probe_timings",
        "probe_errors",
        "distro_family",
    }
    assert run_facts["probe_errors"] == dict(collection.facts.errors)
    nothing = collect(shell, [IMAGE])
    assert nothing.mode == "none" and shell.execs == 1 and len(nothing.facts) == 0
    # a real built-in fact, parsed from what this host's sshd (or its absence) says
    sshd = collect(LocalShell(), [SSHD]).facts.get(SSHD)
    assert sshd is not None and isinstance(sshd.absent, bool)


def test_run_checks_takes_the_footprint_from_the_callers_facts() -> None:
    from checks.facts.harness_footprint import FACT as HARNESS_FOOTPRINT
    from checks.facts.harness_footprint import HarnessFootprint
    from checks.registry import CHECKS, load_builtin_checks

    load_builtin_checks()
    footprint = HarnessFootprint(user="vmcert", added="user vmcert, its key", settled={"a": "b"})
    offline = Facts.from_texts({"bash_history": "4000 vmcert /home/vmcert/.bash_history\n"})
    shell = LocalShell()
    run = run_checks(
        shell,
        [CHECKS.get("bash_history")],
        offline_facts=offline.with_value(HARNESS_FOOTPRINT, footprint, "harness"),
    )
    assert shell.execs == 0 and run.batch_mode == "none"  # nothing left to collect
    assert run.results[0].status.value == "pass"  # the harness user's history is not counted
    assert run.footprint == {
        "user": "vmcert",
        "added": "user vmcert, its key",
        "settled": {"a": "b"},
    }
    assert run.facts.get(HARNESS_FOOTPRINT) == footprint


def test_collect_stretches_probe_limits_by_the_machines_timeout_scale() -> None:
    """Under TCG (scale 5) a probe the loaded host slows past its limit must not be cut short,
    or the host's slowness would become a verdict about the image."""
    from harness.collect import collect

    slow = Fact(name="slow", parse=str, script="sleep 2; echo done\n", timeout=1.0)
    cut = collect(LocalShell(), [slow])
    assert "timed out" in cut.facts.errors["slow"]
    stretched = collect(LocalShell(), [slow], timeout_scale=4.0)
    assert stretched.facts.get(slow) == "done\n" and not stretched.facts.errors
