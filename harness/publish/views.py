"""Read models: what the status, All-offers and history views (CLI, JSON, web) are built from.

Plain frozen dataclasses filled by the store; they carry no database objects, so a view can be
rendered after the session closed and tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from harness.publish.model import (
    INFO,
    OfferStatus,
    RequestStatus,
    Stage,
    StageInfo,
    StepStatus,
)


@dataclass(frozen=True)
class MessageView:
    level: str
    """``information`` or ``error`` (CPP's values)."""
    text: str
    at: datetime


@dataclass(frozen=True)
class ArtifactView:
    kind: str
    path: str


@dataclass(frozen=True)
class StageView:
    stage: Stage
    status: StepStatus
    estimate: str
    progress: int
    started_at: datetime | None
    finished_at: datetime | None
    attempt: int
    messages: tuple[MessageView, ...]
    artifacts: tuple[ArtifactView, ...]

    @property
    def info(self) -> StageInfo:
        return INFO[self.stage]


@dataclass(frozen=True)
class RequestView:
    """One publish request with its stages, in order."""

    offer_id: str
    offer_name: str
    number: int
    status: RequestStatus
    stage: Stage | None
    actor: str
    emails: tuple[str, ...]
    error: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    stages: tuple[StageView, ...]

    def stage_view(self, stage: Stage) -> StageView:
        return next(s for s in self.stages if s.stage is stage)


@dataclass(frozen=True)
class OfferSummary:
    """A row of the All-offers view."""

    offer_id: str
    name: str
    publisher: str
    status: OfferStatus
    stage: Stage | None
    estimate: str
    request: int | None
    updated_at: datetime
    listed: bool


@dataclass(frozen=True)
class OutgoingMail:
    """A queued notification, claimed for delivery."""

    id: int
    offer_id: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    attachment: str | None


@dataclass(frozen=True)
class SentMail:
    """A delivered (or queued) notification as ``vmcert outbox`` lists it."""

    id: int
    offer_id: str
    recipients: tuple[str, ...]
    subject: str
    created_at: datetime
    sent_at: datetime | None
    via: str
    last_error: str
