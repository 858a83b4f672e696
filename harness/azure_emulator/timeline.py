"""The provisioning timeline: what the guest did, when, and which agent did it.

:class:`Timeline` is fed by the HTTP servers (one :meth:`Timeline.record` per request), the DHCP
redirector and the QMP tray watcher, from several threads; :meth:`Timeline.snapshot` returns an
immutable :class:`ProvisioningState` that checks and reports read. Memory is bounded whatever the
guest does: repeated requests of one kind only bump a counter after the first few events, and at
most :data:`MAX_HEALTH_REPORTS` health reports and :data:`MAX_EVENTS` events are kept.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from harness.azure_emulator.health import AgentStatus, HealthReport, HealthState

MAX_EVENTS = 200
MAX_HEALTH_REPORTS = 64
MAX_EVENTS_PER_KIND = 4
"""Events kept per (step, agent) pair; waagent repeats its status upload every few seconds."""


class Agent(StrEnum):
    """Who sent a request, from its ``User-Agent``."""

    CLOUD_INIT = "cloud-init"
    WAAGENT = "waagent"
    AZURE_INIT = "azure-init"
    AFTERBURN = "afterburn"
    IGNITION = "ignition"
    UNKNOWN = "unknown"
    HOST = "host"
    """Not a guest request: something the host observed (DHCP, the CD tray)."""


def agent_from_user_agent(user_agent: str) -> Agent:
    """The agent a ``User-Agent`` names (cloud-init sends ``Cloud-Init/<version>``)."""
    lowered = user_agent.lower()
    for needle, agent in (
        ("cloud-init", Agent.CLOUD_INIT),
        ("walinuxagent", Agent.WAAGENT),
        ("azure-init", Agent.AZURE_INIT),
        ("afterburn", Agent.AFTERBURN),
        ("ignition", Agent.IGNITION),
    ):
        if needle in lowered:
            return agent
    return Agent.UNKNOWN


class Step(StrEnum):
    """What a request (or a host observation) was, for provisioning."""

    VERSIONS = "versions"
    GOAL_STATE = "goal state"
    CONFIG = "config document"
    CERTIFICATES = "certificates"
    HEALTH = "health report"
    ROLE_PROPERTIES = "role properties"
    TELEMETRY = "telemetry"
    HEALTH_SERVICE = "health service"
    AGENT_STATUS = "VM agent status"
    HOST_PLUGIN = "host plugin"
    IMDS = "instance metadata"
    REJECTED = "rejected request"
    UNKNOWN = "unknown request"
    DHCP_OPTIONS = "DHCP options 245/121 added"
    MEDIA_EJECTED = "provisioning media ejected"


@dataclass(frozen=True)
class Event:
    """One entry of the timeline; ``at`` is in seconds since the snapshot's origin."""

    at: float
    step: Step
    agent: Agent
    detail: str = ""


@dataclass(frozen=True)
class HealthEvent:
    """A health report and whether it echoed the goal state's ids (``None``: no ids sent)."""

    at: float
    agent: Agent
    report: HealthReport
    ids_match: bool | None

    @property
    def counts_as_ready(self) -> bool:
        """``Ready`` with the goal state's ids (or a format that carries none)."""
        return self.report.state is HealthState.READY and self.ids_match is not False


@dataclass(frozen=True)
class StatusEvent:
    """A VM-agent status upload."""

    at: float
    agent: Agent
    status: AgentStatus


@dataclass(frozen=True)
class ProvisioningState:
    """What the emulator saw, at one moment; times are seconds since the origin."""

    requests: int
    counts: dict[Step, int]
    events: tuple[Event, ...]
    health: tuple[HealthEvent, ...]
    first_agent_ready: StatusEvent | None
    last_agent_status: StatusEvent | None
    media_ejected_at: float | None
    dropped_events: int = 0

    @property
    def first_request(self) -> Event | None:
        guest = [event for event in self.events if event.agent is not Agent.HOST]
        return guest[0] if guest else None

    def first(self, step: Step) -> Event | None:
        """The first event of ``step``."""
        return next((event for event in self.events if event.step is step), None)

    @property
    def goal_state_fetched(self) -> Event | None:
        return self.first(Step.GOAL_STATE)

    @property
    def ready(self) -> HealthEvent | None:
        """The first ``Ready`` whose ids match the goal state: Azure's "provisioned"."""
        return next((event for event in self.health if event.counts_as_ready), None)

    @property
    def failure(self) -> HealthEvent | None:
        """The first ``NotReady``/``ProvisioningFailed`` report."""
        return next((event for event in self.health if event.report.failed), None)

    @property
    def imds_calls(self) -> int:
        return self.counts.get(Step.IMDS, 0)

    @property
    def vm_agent_ready(self) -> StatusEvent | None:
        return self.first_agent_ready


class Timeline:
    """Thread-safe accumulator of provisioning events (times from ``clock``, monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._requests = 0
        self._counts: Counter[Step] = Counter()
        self._per_kind: Counter[tuple[Step, Agent]] = Counter()
        self._events: list[Event] = []
        self._dropped = 0
        self._health: list[HealthEvent] = []
        self._first_ready: StatusEvent | None = None
        self._last_status: StatusEvent | None = None
        self._ejected: float | None = None

    def now(self) -> float:
        return self._clock()

    def _event(self, event: Event) -> None:
        key = (event.step, event.agent)
        self._per_kind[key] += 1
        if self._per_kind[key] > MAX_EVENTS_PER_KIND or len(self._events) >= MAX_EVENTS:
            self._dropped += 1
            return
        self._events.append(event)

    def record(
        self,
        step: Step,
        agent: Agent,
        detail: str = "",
        *,
        health: HealthReport | None = None,
        ids_match: bool | None = None,
        status: AgentStatus | None = None,
        guest_request: bool = True,
    ) -> None:
        """Note one request (or a host observation when ``guest_request`` is false)."""
        with self._lock:
            at = self._clock()  # inside the lock: events stay in time order
            if guest_request:
                self._requests += 1
            self._counts[step] += 1
            if health is not None:
                # Every health report is an event of its own: the order matters for the verdict.
                if len(self._health) < MAX_HEALTH_REPORTS:
                    self._health.append(HealthEvent(at, agent, health, ids_match))
                if len(self._events) < MAX_EVENTS:
                    self._events.append(Event(at, step, agent, detail))
                else:
                    self._dropped += 1
                return
            if status is not None:
                stamped = StatusEvent(at, agent, status)
                self._last_status = stamped
                if status.ready and self._first_ready is None:
                    self._first_ready = stamped
            self._event(Event(at, step, agent, detail))

    def media_ejected(self) -> None:
        """The guest opened the CD tray (QMP ``DEVICE_TRAY_MOVED``)."""
        with self._lock:
            at = self._clock()
            if self._ejected is None:
                self._ejected = at
            self._counts[Step.MEDIA_EJECTED] += 1
            self._event(Event(at, Step.MEDIA_EJECTED, Agent.HOST))

    def snapshot(self, origin: float | None = None) -> ProvisioningState:
        """The state now, with times relative to ``origin`` (a ``clock()`` value; default 0)."""
        base = origin or 0.0
        with self._lock:

            def shift_status(event: StatusEvent | None) -> StatusEvent | None:
                if event is None:
                    return None
                return StatusEvent(event.at - base, event.agent, event.status)

            return ProvisioningState(
                requests=self._requests,
                counts=dict(self._counts),
                events=tuple(Event(e.at - base, e.step, e.agent, e.detail) for e in self._events),
                health=tuple(
                    HealthEvent(h.at - base, h.agent, h.report, h.ids_match) for h in self._health
                ),
                first_agent_ready=shift_status(self._first_ready),
                last_agent_status=shift_status(self._last_status),
                media_ejected_at=None if self._ejected is None else self._ejected - base,
                dropped_events=self._dropped,
            )
