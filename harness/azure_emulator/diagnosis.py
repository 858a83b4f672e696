"""What a provisioning timeline means, in words a publisher can act on.

:func:`diagnose` turns a :class:`~.timeline.ProvisioningState` into a :class:`Diagnosis`: the
outcome (provisioned, failed, still waiting, or stuck at a known step), which agent reported, the
source the agent provisioned from, and one sentence saying what happened and what to look at.
:func:`timeline_lines` renders the timeline for ``vmcert boot`` and the reports. Both are pure;
the guest-written text they include (an agent's failure description) is passed through as data,
to be escaped by whatever renders it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from harness.azure_emulator.timeline import Agent, ProvisioningState, Step


class Outcome(StrEnum):
    """Where provisioning stands."""

    PROVISIONED = "provisioned"
    FAILED = "failed"
    """The agent reported ``NotReady``/``ProvisioningFailed``."""
    NO_REQUEST = "no request"
    NO_HEALTH_REPORT = "no health report"
    IDS_MISMATCH = "ids mismatch"
    WAITING = "waiting"


class Source(StrEnum):
    """Where the agent took the user and key from."""

    MEDIA = "provisioning media"
    """The guest ejected the CD, which the agents do after reading ``ovf-env.xml``."""
    IMDS = "IMDS (the media was not seen read)"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Diagnosis:
    outcome: Outcome
    agent: Agent | None
    source: Source
    at: float | None
    """Seconds (from the state's origin) of the deciding event."""
    message: str


def provisioning_source(state: ProvisioningState) -> Source:
    if state.media_ejected_at is not None:
        return Source.MEDIA
    if state.imds_calls:
        return Source.IMDS
    return Source.UNKNOWN


def diagnose(state: ProvisioningState, *, final: bool) -> Diagnosis:
    """The outcome so far; ``final`` when the deadline passed (or the guest is gone)."""
    source = provisioning_source(state)
    ready, failure = state.ready, state.failure
    if ready is not None and (failure is None or ready.at < failure.at):
        where = (
            "from the provisioning media"
            if source is Source.MEDIA
            else "without the provisioning media being seen read (from IMDS, or the CD was "
            "not ejected)"
        )
        return Diagnosis(
            Outcome.PROVISIONED,
            ready.agent,
            source,
            ready.at,
            f"{ready.agent.value} reported Ready {ready.at:.1f} s after start, {where}",
        )
    if failure is not None:
        text = failure.report.description or "no description"
        return Diagnosis(
            Outcome.FAILED,
            failure.agent,
            source,
            failure.at,
            f"{failure.agent.value} reported ProvisioningFailed: {text}",
        )
    mismatched = next((h for h in state.health if h.ids_match is False), None)
    if not final:
        return Diagnosis(Outcome.WAITING, None, source, None, "provisioning in progress")
    if mismatched is not None:
        return Diagnosis(
            Outcome.IDS_MISMATCH,
            mismatched.agent,
            source,
            mismatched.at,
            f"{mismatched.agent.value} reported {mismatched.report.state.value} for another "
            "goal state (incarnation, container or instance id differ): stale agent state "
            "in the image (deprovision it before capture)",
        )
    goal = state.goal_state_fetched
    if goal is not None:
        return Diagnosis(
            Outcome.NO_HEALTH_REPORT,
            goal.agent,
            source,
            goal.at,
            f"{goal.agent.value} fetched the goal state at {goal.at:.1f} s but never reported "
            "health: the agent stopped or failed before reporting (see the serial log)",
        )
    if state.requests == 0:
        return Diagnosis(
            Outcome.NO_REQUEST,
            None,
            source,
            None,
            "the guest never contacted the WireServer or IMDS: no provisioning agent ran "
            "(cloud-init without the Azure datasource, waagent not enabled or crashed), the "
            "network did not come up, or the provisioning media was unreadable",
        )
    first = state.first_request
    assert first is not None
    return Diagnosis(
        Outcome.NO_HEALTH_REPORT,
        first.agent,
        source,
        first.at,
        f"the guest made {state.requests} request(s) but never fetched the goal state nor "
        "reported health",
    )


def timeline_lines(state: ProvisioningState) -> list[str]:
    """One line per timeline event: seconds, who, what."""
    lines = []
    for event in state.events:
        who = "host" if event.agent is Agent.HOST else event.agent.value
        detail = f" {event.detail}" if event.detail and event.step is not Step.HEALTH else ""
        lines.append(f"{event.at:7.1f} s  {who:<10}  {event.step.value}{detail}")
        if event.step is Step.HEALTH:
            match = next((h for h in state.health if abs(h.at - event.at) < 1e-9), None)
            if match is not None:
                report = match.report
                parts = [report.state.value, report.substatus or "", report.description or ""]
                lines[-1] += ": " + " / ".join(part for part in parts if part)[:200]
    if state.dropped_events:
        lines.append(f"          ({state.dropped_events} repeated events not shown)")
    return lines


_CLOUD_INIT_DONE = re.compile(r"Cloud-init v\. \S+ finished at .*Datasource (\S+)")
_WAAGENT_FRAME = re.compile(r'File "[^"]*azurelinuxagent/')
_LOGIN_PROMPT = re.compile(r"^(?!Last )\S+ login:(?: |$)")
_CLOUD_INIT_BANNER = re.compile(r"Cloud-init v\. \S+ running ")
_EXCEPTION_LINE = re.compile(r"\b([A-Z]\w*(?:Error|Exception)\b(?::.*)?)$")
EXCEPTION_LOOKAHEAD = 40
"""Console lines after a waagent frame searched for the exception that ended the traceback."""
QUIET_AFTER_LOGIN = 180.0
"""Seconds without any request after the console's login prompt that mean nobody will ask."""


def gave_up(
    state: ProvisioningState,
    serial: Iterable[tuple[float, str]],
    now: float,
    quiet_after_login: float = QUIET_AFTER_LOGIN,
) -> str | None:
    """Why provisioning can no longer succeed, from the timeline and the serial console (lines
    with their times, like ``now``, in seconds since the state's origin), or ``None`` while it
    still may. Lets a boot fail early instead of waiting out its deadline.

    * the agent reported ``ProvisioningFailed``;
    * cloud-init finished with a datasource other than Azure and nobody reported health (the
      image's cloud-init does not use the Azure datasource; waagent, if present, then waits 30
      minutes for cloud-init's ``ovf-env.xml``);
    * waagent crashed (a Python traceback through ``azurelinuxagent``) before any request (a
      traceback later on may be one waagent logged and survived);
    * the guest finished booting (a login prompt on the console) and made no request at all for
      ``quiet_after_login`` seconds (cloud-init disabled or without the Azure datasource, waagent
      waiting for cloud-init or not running): the agents ask within seconds of booting.
    """
    if state.ready is not None:
        return None
    if state.failure is not None:
        return diagnose(state, final=True).message
    reported = bool(state.health)
    login_at: float | None = None
    lines = list(serial)
    for index, (at, line) in enumerate(lines):
        if login_at is None and _LOGIN_PROMPT.search(line):
            login_at = at
        done = _CLOUD_INIT_DONE.search(line)
        if done and not done.group(1).startswith("DataSourceAzure") and not reported:
            return (
                f"cloud-init finished with {done.group(1).rstrip('.')} instead of the Azure "
                "datasource and nothing reported health: the image's cloud-init does not use "
                "the Azure datasource (datasource_list), so Azure provisioning never starts"
            )
        if _WAAGENT_FRAME.search(line) and state.requests == 0:
            ending = _exception_after(lines[index + 1 : index + 1 + EXCEPTION_LOOKAHEAD])
            cause = f" ({ending})" if ending else ""
            return (
                f"waagent crashed before contacting the WireServer{cause}: a Python traceback "
                "on the serial console, see the serial log"
            )
    if login_at is not None and state.requests == 0 and now - login_at > quiet_after_login:
        return (
            f"the guest finished booting (login prompt at {login_at:.0f} s) but made no request "
            f"to the WireServer or IMDS in the {now - login_at:.0f} s since: no agent provisions "
            "from Azure (cloud-init disabled or without the Azure datasource, waagent waiting "
            "for cloud-init or not running)"
        )
    return None


def _exception_after(lines: Iterable[tuple[float, str]]) -> str | None:
    """The first ``SomeError: message`` line (bounded) among ``lines``: a traceback's cause."""
    for _, line in lines:
        found = _EXCEPTION_LINE.search(line.strip())
        if found:
            return found.group(1)[:200]
    return None


def cloud_init_silent_at_login(serial: Iterable[tuple[float, str]]) -> float | None:
    """The time of the console's login prompt when no cloud-init stage started before it (its
    banner, "Cloud-init v. … running 'init-local'", precedes the prompt whenever cloud-init is
    enabled: its units order themselves before user sessions), else ``None``."""
    for at, line in serial:
        if _CLOUD_INIT_BANNER.search(line):
            return None
        if _LOGIN_PROMPT.search(line):
            return at
    return None


def cloud_init_finished_with(serial: Iterable[tuple[float, str]]) -> str | None:
    """The datasource cloud-init's "finished" line on the console names (``DataSourceNone``,
    ``DataSourceNoCloud [seed=…]``), or ``None`` before that line."""
    for _, line in serial:
        done = _CLOUD_INIT_DONE.search(line)
        if done:
            return done.group(1).rstrip(".")
    return None
