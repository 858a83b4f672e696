# ruff: noqa: E501  (shell texts and regex tables read better unwrapped)
"""The batched probe executor: every probe of a run in ONE generated script, ONE SSH exec.

The generated POSIX sh script

* exports a full ``PATH`` and detects the distribution family from ``/etc/os-release``;
* writes each probe's text (the family-specific one, chosen on the guest) to a temp file;
* runs it under ``timeout -k 2 <limit>`` with stdin closed, capturing stdout/stderr to files;
* prints, between markers that carry a random per-run token, the first ``max_output`` bytes of
  stdout, the first 4 KiB of stderr, and an end line with the exit status, the total byte counts
  (so dropped bytes are known exactly) and the probe's wall time in milliseconds.

The whole script runs with sudo once (``run_script(..., sudo=True)``). When the batch itself fails
(the exec raises, or the markers are missing or garbled), :func:`run_probes` falls back to one exec
per probe with the same wrapper and says so in :attr:`ProbeRun.mode`/``fallback_reason``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from checks.probes import FAMILIES, FAMILY_DETECT_SH, Probe

STDERR_CAP = 4096
"""Bytes of each probe's stderr that are kept (stderr is evidence, not a fact)."""


class ScriptResult(Protocol):
    """What ``SshSession.run_script`` returns (harness.ssh.CommandResult)."""

    exit_status: int
    stdout: bytes
    stderr: bytes
    timed_out: bool


class ScriptSession(Protocol):
    """The part of ``harness.ssh.SshSession`` the executor needs."""

    def run_script(
        self, script: str, *, timeout: float, sudo: bool, max_output: int
    ) -> Any:  # returns a ScriptResult
        ...


@dataclass(frozen=True)
class ProbeOutput:
    """The outcome of one probe on the guest."""

    name: str
    exit_status: int
    stdout: str
    stderr: str = ""
    stdout_bytes: int = 0
    """Total bytes the probe printed on stdout (before the cap)."""
    stdout_dropped: int = 0
    """Bytes cut by the output cap."""
    duration: float = 0.0
    """Wall time on the guest, seconds."""

    @property
    def timed_out(self) -> bool:
        """``timeout(1)`` reports 124 (TERM) or 137 (KILL after the grace period)."""
        return self.exit_status in (124, 137)

    @property
    def ok(self) -> bool:
        """Whether the fact was collected (exit 0)."""
        return self.exit_status == 0


@dataclass
class ProbeRun:
    """Everything the executor learned: outputs by probe name and how they were collected."""

    outputs: dict[str, ProbeOutput] = field(default_factory=dict)
    mode: str = "batch"
    """``batch`` (one exec) or ``per-probe`` (fallback: one exec per probe)."""
    fallback_reason: str | None = None
    execs: int = 0
    wall_time: float = 0.0
    family: str = "unknown"

    @property
    def timings(self) -> dict[str, float]:
        """Guest-side wall time per probe, seconds."""
        return {name: out.duration for name, out in self.outputs.items()}

    def facts(self) -> dict[str, str]:
        """Collected facts: the stdout of each probe that exited 0."""
        return {name: out.stdout for name, out in self.outputs.items() if out.ok}

    def errors(self) -> dict[str, str]:
        """Why each failed probe produced no fact (one line each)."""
        problems: dict[str, str] = {}
        for name, out in self.outputs.items():
            if out.ok:
                continue
            if out.timed_out:
                problems[name] = f"probe {name} timed out (exit {out.exit_status})"
            else:
                tail = out.stderr.strip().splitlines()[-1:] or [out.stdout.strip()[:200]]
                problems[name] = f"probe {name} exited {out.exit_status}: {tail[0]}"
        return problems


class BatchError(Exception):
    """The batch output could not be parsed (missing or garbled markers)."""


def _heredoc(text: str, delimiter: str) -> str:
    return f"cat > \"$VMCERT_DIR/{{name}}\" <<'{delimiter}'\n{text}{delimiter}\n"


def _probe_block(p: Probe, token: str, index: int, parallel: bool) -> str:
    """Shell that writes one probe's text (per family) and starts it under its time limit."""
    fname = f"p{index}"
    delim = f"VMCERT_EOF_{token}"
    lines = [f"# --- probe {p.name}"]
    specialised = {fam: p.family_scripts[fam] for fam in FAMILIES if fam in p.family_scripts}
    if specialised:
        lines.append('case "$VMCERT_FAMILY" in')
        for fam, text in specialised.items():
            lines.append(f"{fam})")
            lines.append(_heredoc(text, delim).replace("{name}", fname) + ";;")
        lines.append("*)")
        lines.append(_heredoc(p.script, delim).replace("{name}", fname) + ";;")
        lines.append("esac")
    else:
        lines.append(_heredoc(p.script, delim).replace("{name}", fname))
    timeout = max(1, round(p.timeout))
    lines.append(f"vmcert_job {fname} {timeout}" + (" &" if parallel else ""))
    return "\n".join(lines) + "\n"


def _emit_line(p: Probe, index: int) -> str:
    return f"vmcert_emit {p.name} p{index} {int(p.max_output)} {STDERR_CAP}\n"


_PREAMBLE = r"""PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH LC_ALL=C
umask 077
VMCERT_DIR=$(mktemp -d /tmp/vmcert-probes.XXXXXX) || exit 97
trap 'rm -rf "$VMCERT_DIR"' EXIT
%(family)s
printf '%%s FAMILY %%s\n' "%(token)s" "$VMCERT_FAMILY"
vmcert_ms() {  # fork-free milliseconds since boot (read and arithmetic are shell builtins)
  read _up _idle </proc/uptime; _c=${_up#*.}; VMCERT_MS=$(( ${_up%%%%.*} * 1000 + ${_c#0} * 10 ))
}
VMCERT_TIMEOUT=$(command -v timeout)
vmcert_job() {  # file limit: run one probe with its own time limit; record status and ms
  _f=$1; _t=$2
  vmcert_ms; _s=$VMCERT_MS
  if [ -n "$VMCERT_TIMEOUT" ]; then
    "$VMCERT_TIMEOUT" -k 2 "$_t" sh "$VMCERT_DIR/$_f" </dev/null >"$VMCERT_DIR/$_f.out" 2>"$VMCERT_DIR/$_f.err"
  else
    sh "$VMCERT_DIR/$_f" </dev/null >"$VMCERT_DIR/$_f.out" 2>"$VMCERT_DIR/$_f.err"
  fi
  _rc=$?
  vmcert_ms
  echo "$_rc $((VMCERT_MS - _s))" >"$VMCERT_DIR/$_f.rc"
}
vmcert_emit() {  # name file cap stderr-cap: print one probe's capped output between markers
  _n=$1; _f=$2; _cap=$3; _ecap=$4; _rc=125; _ms=0
  [ -s "$VMCERT_DIR/$_f.rc" ] && read _rc _ms <"$VMCERT_DIR/$_f.rc"
  _ob=0; [ -s "$VMCERT_DIR/$_f.out" ] && _ob=$(wc -c <"$VMCERT_DIR/$_f.out")
  _eb=0; [ -s "$VMCERT_DIR/$_f.err" ] && _eb=$(wc -c <"$VMCERT_DIR/$_f.err")
  printf '%(token)s BEGIN %%s\n' "$_n"
  [ "$_ob" -gt 0 ] && head -c "$_cap" "$VMCERT_DIR/$_f.out"
  printf '\n%(token)s STDERR %%s\n' "$_n"
  [ "$_eb" -gt 0 ] && head -c "$_ecap" "$VMCERT_DIR/$_f.err"
  printf '\n%(token)s END %%s rc=%%d out=%%d err=%%d ms=%%d\n' "$_n" "$_rc" "$_ob" "$_eb" "$_ms"
}
"""


def build_script(
    probes: Sequence[Probe], token: str | None = None, *, parallel: bool = True
) -> tuple[str, str]:
    """The batch script for ``probes`` and its marker token (random unless given).

    With ``parallel`` every probe starts as a background job of the one shell (each under its
    own time limit) and the outputs are printed in order after ``wait``: the batch then takes
    about as long as its slowest probe instead of the sum. Otherwise they run one after another.
    """
    token = token or "VMCERT" + secrets.token_hex(8)
    parts = ["#!/bin/sh", _PREAMBLE % {"family": FAMILY_DETECT_SH, "token": token}]
    for index, p in enumerate(probes):
        parts.append(_probe_block(p, token, index, parallel))
        if not parallel:
            parts.append(_emit_line(p, index))
    if parallel:
        parts.append("wait\n")
        parts.extend(_emit_line(p, index) for index, p in enumerate(probes))
    parts.append(f"printf '%s DONE\\n' \"{token}\"\nexit 0\n")
    return "\n".join(parts), token


def parse_output(
    data: bytes, token: str, probes: Sequence[Probe]
) -> tuple[dict[str, ProbeOutput], str]:
    """Parse batch output into outputs by probe name and the detected family.

    Raises :class:`BatchError` when any expected probe's markers are missing or garbled.
    """
    text = data.decode("utf-8", errors="replace")
    tok = re.escape(token)
    family_match = re.search(rf"^{tok} FAMILY (\S*)$", text, re.MULTILINE)
    family = family_match.group(1) if family_match else "unknown"
    block = re.compile(
        rf"^{tok} BEGIN (?P<name>\S+)\n(?P<out>.*?)\n{tok} STDERR (?P=name)\n(?P<err>.*?)\n"
        rf"{tok} END (?P=name) rc=(?P<rc>-?\d+) out=(?P<ob>\d+) err=(?P<eb>\d+) ms=(?P<ms>-?\d+)$",
        re.MULTILINE | re.DOTALL,
    )
    outputs: dict[str, ProbeOutput] = {}
    caps = {p.name: p.max_output for p in probes}
    for m in block.finditer(text):
        name = m.group("name")
        total = int(m.group("ob"))
        outputs[name] = ProbeOutput(
            name=name,
            exit_status=int(m.group("rc")),
            stdout=m.group("out"),
            stderr=m.group("err"),
            stdout_bytes=total,
            stdout_dropped=max(0, total - caps.get(name, total)),
            duration=max(0, int(m.group("ms"))) / 1000.0,
        )
    missing = [p.name for p in probes if p.name not in outputs]
    if missing:
        raise BatchError(f"markers missing or garbled for probe(s): {', '.join(missing)}")
    return outputs, family


def _exec(
    session: ScriptSession, probes: Sequence[Probe], sudo: bool, parallel: bool = True
) -> tuple[Any, str]:
    script, token = build_script(probes, parallel=parallel)
    limit = sum(p.timeout + 3 for p in probes) + 10
    cap = sum(p.max_output + STDERR_CAP + 256 for p in probes) + 4096
    result = session.run_script(script, timeout=limit, sudo=sudo, max_output=cap)
    return result, token


def run_probes(
    session: ScriptSession, probes: Iterable[Probe], *, batch: bool = True, parallel: bool = True
) -> ProbeRun:
    """Run ``probes`` on the guest: one exec for all of them, falling back to one per probe.

    With ``batch=False`` it goes straight to one exec per probe (used by the benchmark to measure
    the testinfra-style way). Sudo is used once for the batch when any probe needs root.
    """
    chosen = list(probes)
    sudo = any(p.needs_root for p in chosen)
    run = ProbeRun()
    start = time.monotonic()
    if batch and chosen:
        try:
            result, token = _exec(session, chosen, sudo, parallel)
            run.execs += 1
            if getattr(result, "timed_out", False):
                raise BatchError("the batch exec timed out")
            run.outputs, run.family = parse_output(result.stdout, token, chosen)
            run.wall_time = time.monotonic() - start
            return run
        except Exception as exc:  # the batch failed as a whole: fall back, and say why
            from harness.errors import Interrupted

            if isinstance(exc, Interrupted | KeyboardInterrupt):
                raise
            run.fallback_reason = (
                f"batch failed ({type(exc).__name__}: {exc}); ran one exec per probe"
            )
    run.mode = "per-probe"
    run.outputs = {}
    for p in chosen:
        try:
            result, token = _exec(session, [p], p.needs_root)
            run.execs += 1
            outs, run.family = parse_output(result.stdout, token, [p])
            run.outputs.update(outs)
        except Exception as exc:
            from harness.errors import Interrupted

            if isinstance(exc, Interrupted | KeyboardInterrupt):
                raise
            run.outputs[p.name] = ProbeOutput(
                name=p.name, exit_status=-1, stdout="", stderr=f"{type(exc).__name__}: {exc}"
            )
    run.wall_time = time.monotonic() - start
    return run


# ---------------------------------------------------------------------------------------------
# The check phase: probes + evaluation + policy + waivers.


@dataclass
class CheckRun:
    """The outcome of :func:`run_checks`, as certify and the reporters consume it."""

    results: list[Any]
    """One :class:`checks.model.Result` per selected check, in selection order."""
    facts: dict[str, Any]
    """Every fact evaluated (offline facts, then probe facts; ``harness_footprint`` included)."""
    probe_timings: dict[str, float]
    """Guest-side seconds per probe."""
    batch_mode: str
    """``batch`` (one exec), ``per-probe`` (fallback) or ``none`` (no probe was needed)."""
    fallback_reason: str | None
    policy_name: str
    policy_overrides: tuple[str, ...]
    footprint: dict[str, Any]
    """What the harness itself added to the guest (ephemeral user, key, sudoers entry)."""
    probe_errors: dict[str, str] = field(default_factory=dict)
    family: str = "unknown"
    execs: int = 0
    duration: float = 0.0
    """Seconds for the whole check phase (probing and evaluation)."""
    probe_wall_time: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether any result fails the run (waived failures do not)."""
        return any(r.failed for r in self.results)

    def run_facts(self) -> dict[str, Any]:
        """The run's own facts for reports (mode, fallback, timings, policy, footprint)."""
        return {
            "batch_mode": self.batch_mode,
            "fallback_reason": self.fallback_reason,
            "execs": self.execs,
            "probe_wall_time": round(self.probe_wall_time, 3),
            "probe_timings": {k: round(v, 3) for k, v in self.probe_timings.items()},
            "probe_errors": self.probe_errors,
            "distro_family": self.family,
            "policy": self.policy_name,
            "policy_overrides": list(self.policy_overrides),
            "harness_footprint": self.footprint,
        }


def _session_of(target: Any, settle_timeout: float | None) -> tuple[Any, dict[str, Any], Any]:
    """(session, footprint, session-to-close) for a Machine or an SshSession.

    The footprint names the account the harness logs in with (excluded from the accounts and
    credentials checks) and what the platform says it added (``Machine.facts``).
    """
    if hasattr(target, "run_script"):
        footprint: dict[str, Any] = {
            "user": getattr(target, "user", None),
            "added": "nothing; the login user of an existing host is treated as the deploy user",
        }
        return target, footprint, None
    states = target.wait_settled(settle_timeout) if hasattr(target, "wait_settled") else {}
    facts = getattr(target, "facts", {}) or {}
    raw = facts.get("harness_footprint")
    footprint = dict(raw) if isinstance(raw, Mapping) else {"added": str(raw or "")}
    footprint.setdefault("user", getattr(target, "user", None))
    if states:
        footprint["settled"] = dict(states)
    session = target.session()
    return session, footprint, session


def run_checks(
    machine_or_session: Any,
    checks: Sequence[Any],
    *,
    policy: Any = None,
    waivers: Sequence[Any] | None = (),
    offline_facts: Mapping[str, Any] | None = None,
    batch: bool = True,
    settle_timeout: float | None = None,
    today: Any = None,
) -> CheckRun:
    """Run ``checks`` against a booted machine or an open SSH session.

    * ``machine_or_session``: a ``harness.platforms.base.Machine`` (``wait_settled`` runs first,
      ``facts["harness_footprint"]`` names what the harness added) or a
      ``harness.ssh.SshSession`` (an existing host; the login user counts as the deploy user).
    * ``checks``: :class:`checks.model.Check` objects, e.g. from ``select_checks(tag="online")``.
    * ``policy``: a :class:`harness.policy.Policy` (default: the ``marketplace`` profile).
    * ``waivers``: :class:`harness.waivers.WaiverEntry` list; ``run = false`` entries are not
      executed (their probes are not even sent).
    * ``offline_facts``: facts from image inspection, merged under the probe facts, so checks
      with both sources report both.

    Only the probes the selected checks need are sent, as one batch (fallback: one exec each).
    """
    from checks.probes import probes_for
    from harness.policy import load_policy
    from harness.waivers import apply_waivers, not_run, skipped_result

    started = time.monotonic()
    policy = policy if policy is not None else load_policy(None, checks)
    waivers = list(waivers or [])
    skip = not_run(waivers, today)
    to_run = [c for c in checks if c.id not in skip]
    facts: dict[str, Any] = dict(offline_facts or {})
    # a fact the caller already supplies (offline inspection, a recording) is not collected again
    needed = {name for c in to_run for name in c.facts if name not in facts}
    probes = probes_for(needed)
    footprint: dict[str, Any] = {}
    run = ProbeRun(mode="none")
    if probes:
        session, footprint, owned = _session_of(machine_or_session, settle_timeout)
        try:
            run = run_probes(session, probes, batch=batch)
        finally:
            if owned is not None:
                owned.close()
        facts.update(run.facts())
    facts["harness_footprint"] = footprint
    errors = run.errors()
    results = []
    for c in checks:
        if c.id in skip:
            results.append(skipped_result(c, skip[c.id], today))
            continue
        result = c.run(facts, policy.for_check(c.id))
        failed_probes = [errors[f] for f in c.facts if f in errors]
        if failed_probes and result.status.value == "skipped":
            from dataclasses import replace

            from checks.model import Status

            result = replace(result, status=Status.ERROR, message="; ".join(failed_probes))
        results.append(result)
    results = apply_waivers(results, waivers, today)
    return CheckRun(
        results=results,
        facts=facts,
        probe_timings=run.timings,
        batch_mode=run.mode,
        fallback_reason=run.fallback_reason,
        policy_name=policy.name,
        policy_overrides=tuple(policy.overrides),
        footprint=footprint,
        probe_errors=errors,
        family=run.family,
        execs=run.execs,
        duration=time.monotonic() - started,
        probe_wall_time=run.wall_time,
    )
