"""The batched probe executor: every probe of a run in ONE generated script, ONE SSH exec.

Under TCG emulation every fork+exec on the guest costs about 20 ms while shell builtins and a
plain subshell fork cost next to nothing, so the generated POSIX sh script starts as few
programs as it can:

* it exports a full ``PATH``, detects the distribution family from ``/etc/os-release`` (builtins
  only) and makes one temp directory;
* each probe's text (the family-specific one, chosen on the guest by ``case``) runs with
  ``eval`` in its own subshell of the batch shell, as a background job, stdin closed, stdout and
  stderr captured to files: no per-probe ``sh`` or ``timeout`` process;
* per-probe time limits are kept by ONE watchdog job that wakes once a second (one ``sleep``),
  sends TERM to a probe's whole process tree at its limit and KILL two seconds later, exactly
  like ``timeout -k 2``; such a probe reports exit status 124 (or 137 after KILL);
* after ``wait`` it prints one header line per probe (exit status, wall time in ms, total stdout
  and stderr byte counts, all from one ``wc -c``), then the outputs as one byte stream, each cut
  to its cap (``max_output`` for stdout, 4 KiB for stderr; usually a single ``cat``).

The host cuts the stream by those byte counts, so no output can forge a marker; a stream whose
length does not add up is rejected. The whole script runs with sudo once
(``run_script(..., sudo=True)``). When the batch itself fails (the exec raises, or the framing
is missing or broken), :func:`run_probes` falls back to one exec per probe with the same script
and says so in :attr:`ProbeRun.mode`/``fallback_reason``.

A probe is a :class:`checks.fact.Fact` with a shell text; :func:`harness.collect.collect` turns
the outputs into parsed facts. :func:`run_checks` composes collection and judgement for callers
holding an open session (``vmcert check``, tests).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from checks.fact import Fact, Facts
from checks.facts.harness_footprint import FACT as HARNESS_FOOTPRINT
from checks.facts.harness_footprint import HarnessFootprint
from checks.family import FAMILIES, FAMILY_DETECT_SH
from checks.model import JSON, Check, Result
from checks.plan import CheckPlan
from checks.policy import Policy
from checks.waivers import WaiverEntry
from harness.errors import Interrupted

Probe = Fact[object]
"""A fact with a shell text, as the executor runs it."""

STDERR_CAP = 4096
"""Bytes of each probe's stderr that are kept (stderr is evidence, not a fact)."""

KILL_GRACE_S = 2
"""Seconds between TERM at a probe's time limit and KILL (``timeout -k 2``)."""


class ScriptResult(Protocol):
    """The part of what ``SshSession.run_script`` returns (harness.ssh.CommandResult) the
    executor reads."""

    @property
    def stdout(self) -> bytes: ...

    @property
    def timed_out(self) -> bool: ...


class ScriptSession(Protocol):
    """The part of ``harness.ssh.SshSession`` the executor needs."""

    def run_script(
        self, script: str, *, timeout: float, sudo: bool, max_output: int
    ) -> ScriptResult: ...


class LoginSession(ScriptSession, Protocol):
    """A session that also names the account it logged in with (the harness's footprint)."""

    @property
    def user(self) -> str: ...


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
        """The batch's watchdog reports 124 (TERM at the limit) or 137 (KILL after the grace
        period), as ``timeout -k`` does."""
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


def _quote(text: str) -> str:
    """``text`` as one single-quoted shell word."""
    return "'" + text.replace("'", "'\\''") + "'"


def _probe_block(p: Probe, index: int, parallel: bool) -> str:
    """Shell that picks one probe's text for the guest's family and starts it."""
    lines = [f"# --- probe {p.name}"]
    specialised = {fam: p.family_scripts[fam] for fam in FAMILIES if fam in p.family_scripts}
    if specialised:
        lines.append('case "$VMCERT_FAMILY" in')
        lines.extend(f"{fam}) VMCERT_TEXT={_quote(text)};;" for fam, text in specialised.items())
        lines.append(f"*) VMCERT_TEXT={_quote(p.script)};;")
        lines.append("esac")
    else:
        lines.append(f"VMCERT_TEXT={_quote(p.script)}")
    limit = max(1, round(p.timeout))
    lines.append(f'vmcert_start {index} {limit} "$VMCERT_TEXT"')
    if not parallel:
        lines.append("wait $!")
    return "\n".join(lines) + "\n"


_PREAMBLE = r"""PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH LC_ALL=C
umask 077
VMCERT_DIR=$(mktemp -d /tmp/vmcert-probes.XXXXXX) || exit 97
trap 'rm -rf "$VMCERT_DIR" </dev/null >/dev/null 2>&1 &' EXIT  # the answer need not wait for it
%(family)s
printf '%%s FAMILY %%s\n' "%(token)s" "$VMCERT_FAMILY"
vmcert_ms() {  # fork-free milliseconds since boot (read and arithmetic are shell builtins)
  read _up _idle </proc/uptime; _c=${_up#*.}; VMCERT_MS=$(( ${_up%%%%.*} * 1000 + ${_c#0} * 10 ))
}
vmcert_kids() {  # pid: append every descendant of pid to VMCERT_KIDS
  local _c _k _t
  _c=
  if [ -r "/proc/$1/task/$1/children" ]; then
    for _t in /proc/"$1"/task/*/children; do read -r _k <"$_t"; _c="$_c $_k"; done
  else
    _c=$(pgrep -P "$1" 2>/dev/null)
  fi
  for _k in $_c; do VMCERT_KIDS="$VMCERT_KIDS $_k"; vmcert_kids "$_k"; done
}
vmcert_signal() {  # signal pid [self]: signal the process tree below pid (and pid with "self")
  VMCERT_KIDS=
  vmcert_kids "$2"
  [ "$3" = self ] && VMCERT_KIDS="$2 $VMCERT_KIDS"
  [ -n "$VMCERT_KIDS" ] && kill -s "$1" $VMCERT_KIDS 2>/dev/null
  return 0
}
vmcert_watch() {  # one sleep a second: TERM a probe's tree at its limit, KILL it %(grace)d s later
  while sleep 1; do
    vmcert_ms
    [ -r "$VMCERT_DIR/jobs" ] || continue
    while read -r _i _p _d; do
      [ -e "$VMCERT_DIR/$_i.rc" ] && continue
      if [ -e "$VMCERT_DIR/$_i.term" ]; then
        if [ "$VMCERT_MS" -ge $((_d + %(grace)d000)) ] && [ ! -e "$VMCERT_DIR/$_i.kill" ]; then
          : >"$VMCERT_DIR/$_i.kill"; vmcert_signal KILL "$_p"
        fi
      elif [ "$VMCERT_MS" -ge "$_d" ]; then
        : >"$VMCERT_DIR/$_i.term"; vmcert_signal TERM "$_p"
      fi
    done <"$VMCERT_DIR/jobs"
  done
}
vmcert_job() {  # index text: run one probe in a subshell; record its exit status and wall time
  vmcert_ms; _s=$VMCERT_MS
  ( VMCERT_TEXT=$2; set --; eval "$VMCERT_TEXT" ) \
    </dev/null >"$VMCERT_DIR/$1.o" 2>"$VMCERT_DIR/$1.e"
  _rc=$?
  if [ -e "$VMCERT_DIR/$1.kill" ]; then _rc=137; elif [ -e "$VMCERT_DIR/$1.term" ]; then _rc=124; fi
  vmcert_ms
  echo "$_rc $((VMCERT_MS - _s))" >"$VMCERT_DIR/$1.rc"
}
vmcert_start() {  # index limit text: start one probe as a background job, register its deadline
  vmcert_ms
  vmcert_job "$1" "$3" </dev/null >/dev/null 2>&1 &
  VMCERT_PIDS="$VMCERT_PIDS $!"
  echo "$1 $! $((VMCERT_MS + $2 * 1000))" >>"$VMCERT_DIR/jobs"
}
vmcert_queue() {  # file bytes cap: queue a file's output; uncapped runs share one cat
  [ "$2" -gt 0 ] || return 0
  if [ "$2" -gt "$3" ]; then VMCERT_Q="$VMCERT_Q h:$3:$1"; else VMCERT_Q="$VMCERT_Q c:$1"; fi
}
vmcert_meta() {  # index cap stderr-cap: print one probe's header line and queue its outputs
  _rc=125; _ms=0
  [ -s "$VMCERT_DIR/$1.rc" ] && read -r _rc _ms <"$VMCERT_DIR/$1.rc"
  eval "_ob=\${VMCERT_SZ_$1_o:-0} _eb=\${VMCERT_SZ_$1_e:-0}"
  printf '%(token)s P %%s %%s %%s %%s %%s\n' "$1" "$_rc" "$_ms" "$_ob" "$_eb"
  vmcert_queue "$VMCERT_DIR/$1.o" "$_ob" "$2"
  vmcert_queue "$VMCERT_DIR/$1.e" "$_eb" "$3"
}
vmcert_sizes() {  # byte counts of every non-empty output file, from ONE wc
  VMCERT_FILES=
  for _f in "$VMCERT_DIR"/*.o "$VMCERT_DIR"/*.e; do
    [ -s "$_f" ] && VMCERT_FILES="$VMCERT_FILES $_f"
  done
  [ -n "$VMCERT_FILES" ] || return 0
  wc -c $VMCERT_FILES >"$VMCERT_DIR/sizes" 2>/dev/null
  while read -r _n _f; do
    case "$_f" in "$VMCERT_DIR"/*) _b=${_f##*/}; eval "VMCERT_SZ_${_b%%.*}_${_b#*.}=\$_n";; esac
  done <"$VMCERT_DIR/sizes"
}
vmcert_data() {  # the queued outputs as one byte stream, each cut to its cap
  _run=
  for _q in $VMCERT_Q; do
    case "$_q" in
      c:*) _run="$_run ${_q#c:}";;
      h:*) [ -n "$_run" ] && cat $_run; _run=; _r=${_q#h:}; head -c "${_r%%%%:*}" "${_r#*:}";;
    esac
  done
  [ -n "$_run" ] && cat $_run
  return 0
}
VMCERT_PIDS=
VMCERT_Q=
vmcert_watch </dev/null >/dev/null 2>&1 &
VMCERT_WATCH=$!
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
    preamble = _PREAMBLE % {"family": FAMILY_DETECT_SH, "token": token, "grace": KILL_GRACE_S}
    parts = ["#!/bin/sh", preamble]
    # longest time limit first: the limits mirror expected cost, and the slowest probe should not
    # be the last to get a CPU (output order stays the probes' order: it goes by index)
    started = sorted(enumerate(probes), key=lambda item: -item[1].timeout)
    parts.extend(_probe_block(p, index, parallel) for index, p in started)
    parts.append('[ -n "$VMCERT_PIDS" ] && wait $VMCERT_PIDS')
    parts.append('vmcert_signal TERM "$VMCERT_WATCH" self')
    parts.append("vmcert_sizes")
    parts.extend(
        f"vmcert_meta {index} {int(p.max_output)} {STDERR_CAP}" for index, p in enumerate(probes)
    )
    parts.append(f"printf '%s DATA\\n' \"{token}\"")
    parts.append("vmcert_data")
    parts.append(f"printf '\\n%s DONE\\n' \"{token}\"\nexit 0\n")
    return "\n".join(parts), token


def parse_output(
    data: bytes, token: str, probes: Sequence[Probe]
) -> tuple[dict[str, ProbeOutput], str]:
    """Parse batch output into outputs by probe name and the detected family.

    The header lines give each probe's status, wall time and byte counts; the data section is
    cut by those counts (capped like the script caps them). Raises :class:`BatchError` when a
    probe's header is missing or the data section does not add up.
    """
    tok = token.encode()
    data_marker = tok + b" DATA\n"
    at = data.find(data_marker)
    if at < 0 or (at > 0 and data[at - 1 : at] != b"\n"):
        raise BatchError("the batch output has no data section (framing missing or broken)")
    header = data[:at].decode("utf-8", errors="replace")
    tok_re = re.escape(token)
    family_match = re.search(rf"^{tok_re} FAMILY (\S*)$", header, re.MULTILINE)
    family = family_match.group(1) if family_match else "unknown"
    heads: dict[int, tuple[int, int, int, int]] = {}
    for m in re.finditer(rf"^{tok_re} P (\d+) (-?\d+) (-?\d+) (\d+) (\d+)$", header, re.MULTILINE):
        heads[int(m.group(1))] = (
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5)),
        )
    missing = [p.name for i, p in enumerate(probes) if i not in heads]
    if missing:
        raise BatchError(f"markers missing or garbled for probe(s): {', '.join(missing)}")
    pos = at + len(data_marker)
    outputs: dict[str, ProbeOutput] = {}
    for index, p in enumerate(probes):
        rc, ms, out_bytes, err_bytes = heads[index]
        kept_out = min(out_bytes, int(p.max_output))
        kept_err = min(err_bytes, STDERR_CAP)
        stdout = data[pos : pos + kept_out]
        stderr = data[pos + kept_out : pos + kept_out + kept_err]
        pos += kept_out + kept_err
        outputs[p.name] = ProbeOutput(
            name=p.name,
            exit_status=rc,
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            stdout_bytes=out_bytes,
            stdout_dropped=max(0, out_bytes - kept_out),
            duration=max(0, ms) / 1000.0,
        )
    if data[pos:] != b"\n" + tok + b" DONE\n":
        raise BatchError(
            "markers missing or garbled: the data section does not match the announced byte "
            f"counts (expected the end marker at byte {pos} of {len(data)})"
        )
    return outputs, family


def _exec(
    session: ScriptSession, probes: Sequence[Probe], sudo: bool, parallel: bool = True
) -> tuple[ScriptResult, str]:
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
            if result.timed_out:
                raise BatchError("the batch exec timed out")
            run.outputs, run.family = parse_output(result.stdout, token, chosen)
            run.wall_time = time.monotonic() - start
            return run
        except Exception as exc:  # the batch failed as a whole: fall back, and say why
            if isinstance(exc, Interrupted):
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
        except Exception as exc:  # this probe failed: record it, run the others
            if isinstance(exc, Interrupted):
                raise
            run.outputs[p.name] = ProbeOutput(
                name=p.name, exit_status=-1, stdout="", stderr=f"{type(exc).__name__}: {exc}"
            )
    run.wall_time = time.monotonic() - start
    return run


# ---------------------------------------------------------------------------------------------
# The check phase on an open session: collection (harness.collect) + judgement (CheckPlan).


@dataclass
class CheckRun:
    """The outcome of :func:`run_checks`, as ``vmcert check`` and the tests consume it."""

    results: list[Result]
    """One result per selected check, in selection order."""
    facts: Facts
    """Every fact evaluated (the caller's, then the collected ones, the footprint included)."""
    probe_timings: dict[str, float]
    """Guest-side seconds per probe."""
    batch_mode: str
    """``batch`` (one exec), ``per-probe`` (fallback) or ``none`` (no probe was needed)."""
    fallback_reason: str | None
    policy_name: str
    policy_overrides: tuple[str, ...]
    footprint: dict[str, JSON]
    """What the harness itself added to the guest (:class:`HarnessFootprint` as a dict)."""
    probe_errors: dict[str, str] = field(default_factory=dict)
    family: str = "unknown"
    execs: int = 0
    duration: float = 0.0
    """Seconds for the whole check phase (collection and evaluation)."""
    probe_wall_time: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether any result fails the run (waived failures do not)."""
        return any(r.failed for r in self.results)

    def run_facts(self) -> dict[str, JSON]:
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


def run_checks(
    session: LoginSession,
    checks: Sequence[Check],
    *,
    policy: Policy | None = None,
    waivers: Sequence[WaiverEntry] = (),
    offline_facts: Facts | None = None,
    batch: bool = True,
    today: dt.date | None = None,
    timeout_scale: float = 1.0,
) -> CheckRun:
    """Run ``checks`` over an open SSH session: collect the facts they need, then judge them.

    * ``policy``: default the ``marketplace`` profile; ``waivers``: ``run = false`` entries are
      not executed (their facts are not even collected).
    * ``offline_facts``: facts the caller already has (image inspection, a recording, the
      ``harness_footprint`` of a booted machine); they are not collected again. Without a
      footprint, the session's login user is the harness's footprint.

    Only the probes the selected checks need are sent, as one batch (fallback: one exec each).
    """
    from harness.collect import collect  # collect builds on this module's executor

    started = time.monotonic()
    plan = CheckPlan(checks, policy, waivers, today=today)
    have = offline_facts if offline_facts is not None else Facts()
    footprint = have.get(HARNESS_FOOTPRINT) or HarnessFootprint(
        user=session.user,
        added="nothing; the login user of an existing host is treated as the deploy user",
        login_is_deploy_user=True,
    )
    collection = collect(session, plan.facts_needed(have), batch=batch, timeout_scale=timeout_scale)
    facts = have.merged(collection.facts).with_value(HARNESS_FOOTPRINT, footprint, "harness")
    results = plan.evaluate(facts)
    return CheckRun(
        results=results,
        facts=facts,
        probe_timings=dict(collection.timings),
        batch_mode=collection.mode,
        fallback_reason=collection.fallback_reason,
        policy_name=plan.policy.name,
        policy_overrides=plan.policy.overrides,
        footprint=dict(footprint.to_dict()),
        probe_errors=dict(collection.facts.errors),
        family=collection.family,
        execs=collection.execs,
        duration=time.monotonic() - started,
        probe_wall_time=collection.wall_time,
    )
