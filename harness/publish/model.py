"""The pure stage model: the seven stages, their statuses and the transition table.

Nothing here touches a database, a clock or the network: :func:`decide` maps (where a request
is, what happened, the cancel policy) to a :class:`Decision` that the store applies in one
transaction, or raises :class:`TransitionRefused`. The stages and step ids are the Cloud Partner
Portal's ("make your VM offer live"); Preview has no CPP step id of its own, so vmcert adds
``preview``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from harness.publish.errors import PublishRefused
from harness.publish.history import What


class Stage(StrEnum):
    """The stages, in order."""

    VALIDATE = "validate_prereqs"
    CERTIFICATION = "certification"
    PROVISIONING = "provisioning"
    PACKAGING = "packaging_leads"
    PREVIEW = "preview"
    SIGNOFF = "publisher_signoff"
    LIVE = "live"


@dataclass(frozen=True)
class StageInfo:
    """What the status view shows for a stage."""

    stage: Stage
    step_id: str
    """The CPP status resource's step ``id``."""
    name: str
    description: str
    estimate: str
    """Display string only (Microsoft's pages disagree); never used as a timeout."""
    automatic: bool
    """False only for sign-off, which waits for the publisher."""


STAGES: tuple[StageInfo, ...] = (
    StageInfo(
        Stage.VALIDATE,
        "displaydummycertify",
        "Validate Pre-Requisites",
        "Offer settings provided are validated.",
        "< 1 day",
        True,
    ),
    StageInfo(
        Stage.CERTIFICATION,
        "displaycertify",
        "Certification",
        "Your offer is analyzed by our certification systems for issues.",
        "< 5 days",
        True,
    ),
    StageInfo(
        Stage.PROVISIONING,
        "displayprovision",
        "Provisioning",
        "Your virtual machine is being replicated in our production systems.",
        "< 1 day",
        True,
    ),
    StageInfo(
        Stage.PACKAGING,
        "displaypackage",
        "Packaging and Lead Generation Registration",
        "Your virtual machine is being packaged for customers. Additionally, lead systems are "
        "being configured and set up.",
        "< 1 hour",
        True,
    ),
    StageInfo(
        Stage.PREVIEW,
        "preview",
        "Offer Available in Preview",
        "The offer is visible to the preview audience; its deployment is verified.",
        "",
        True,
    ),
    StageInfo(
        Stage.SIGNOFF,
        "publisher-signoff",
        "Publisher signoff",
        "Offer is available to preview. Ensure that everything looks good before making your "
        "offer live.",
        "",
        False,
    ),
    StageInfo(
        Stage.LIVE,
        "live",
        "Live",
        "Offer is publicly visible and is available for purchase.",
        "",
        True,
    ),
)
ORDER: tuple[Stage, ...] = tuple(info.stage for info in STAGES)
INFO: dict[Stage, StageInfo] = {info.stage: info for info in STAGES}


def next_stage(stage: Stage) -> Stage | None:
    """The stage after ``stage`` (``None`` after Live)."""
    index = ORDER.index(stage)
    return ORDER[index + 1] if index + 1 < len(ORDER) else None


class StepStatus(StrEnum):
    """A stage's status (CPP step status values, camelCase as in its JSON)."""

    NOT_STARTED = "notStarted"
    IN_PROGRESS = "inProgress"
    WAITING = "waitingForPublisherReview"
    BLOCKED = "blocked"
    COMPLETE = "complete"
    CANCELED = "canceled"


class RequestStatus(StrEnum):
    """A publish request's status."""

    RUNNING = "running"
    WAITING = "waitingForPublisherReview"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def active(self) -> bool:
        """Running or waiting at sign-off: the offer's one running request."""
        return self in (RequestStatus.RUNNING, RequestStatus.WAITING)


class OfferStatus(StrEnum):
    """The All-offers view's status (Partner Center labels, CPP-style camelCase)."""

    NEVER_PUBLISHED = "neverPublished"
    IN_PROGRESS = "publishInProgress"
    ATTENTION = "attentionNeeded"
    PREVIEW = "preview"
    LIVE = "live"
    CANCELED = "canceled"


def offer_status(latest: RequestStatus | None, current: Stage | None = None) -> OfferStatus:
    """An offer's status from its newest request (and the stage it is in)."""
    if latest is None:
        return OfferStatus.NEVER_PUBLISHED
    if latest is RequestStatus.WAITING or (
        latest is RequestStatus.RUNNING and current is Stage.SIGNOFF
    ):
        return OfferStatus.PREVIEW
    return {
        RequestStatus.RUNNING: OfferStatus.IN_PROGRESS,
        RequestStatus.SUCCEEDED: OfferStatus.LIVE,
        RequestStatus.FAILED: OfferStatus.ATTENTION,
        RequestStatus.CANCELED: OfferStatus.CANCELED,
    }[latest]


class CancelWindow(StrEnum):
    """When Cancel is accepted: CPP's rule (only at sign-off, the default) or Partner Center's
    (only before sign-off)."""

    AT_SIGNOFF = "at_signoff"
    BEFORE_SIGNOFF = "before_signoff"


class Action(StrEnum):
    """What can happen to a request."""

    PUBLISH = "publish"
    COMPLETED = "completed"
    """The current (automatic) stage finished successfully."""
    FAILED = "failed"
    """The current stage failed; the message travels with the outcome, not the decision."""
    GO_LIVE = "go_live"
    CANCEL = "cancel"


class Notice(StrEnum):
    """The e-mails a transition sends."""

    ERROR = "error"
    PREVIEW = "preview"
    LIVE = "live"
    CANCELED = "canceled"


class TransitionRefused(PublishRefused):
    """The action is not allowed where the request is."""


@dataclass(frozen=True)
class Decision:
    """What a transition does, for the store to apply atomically."""

    request_status: RequestStatus
    stages: tuple[tuple[Stage, StepStatus], ...]
    """Stage statuses to set (stages not named keep theirs)."""
    start: Stage | None
    """The stage to start now (``inProgress``, due at once), if any."""
    history: What
    notice: Notice | None = None


@dataclass(frozen=True)
class Where:
    """Where a request is: its status and current stage (``None`` = no active request)."""

    status: RequestStatus | None
    stage: Stage | None

    @property
    def active(self) -> bool:
        return self.status is not None and self.status.active


IDLE = Where(None, None)
"""An offer with no request, or whose newest request has ended."""

_BEFORE_SIGNOFF = ORDER[: ORDER.index(Stage.SIGNOFF)]

TRANSITIONS: tuple[tuple[str, Action, str], ...] = (
    ("no running request", Action.PUBLISH, "new request; Validate prerequisites starts"),
    ("a running request", Action.PUBLISH, "refused: one running request per offer"),
    ("automatic stage", Action.COMPLETED, "the next stage starts"),
    ("Preview", Action.COMPLETED, "sign-off waits for the publisher; preview e-mail"),
    ("Live", Action.COMPLETED, "request succeeded; the offer is listed; live e-mail"),
    ("any stage", Action.FAILED, "stage blocked, request failed; error e-mail"),
    ("Publisher signoff", Action.GO_LIVE, "sign-off complete; Live starts"),
    ("elsewhere", Action.GO_LIVE, "refused"),
    ("Publisher signoff (at_signoff)", Action.CANCEL, "every stage reset; request canceled"),
    ("before sign-off (before_signoff)", Action.CANCEL, "stage canceled; request canceled"),
    ("elsewhere", Action.CANCEL, "refused, naming the window"),
)
"""The transition table in words (``docs/publishing.md`` prints it; :func:`decide` is it)."""


def decide(
    where: Where, action: Action, window: CancelWindow = CancelWindow.AT_SIGNOFF
) -> Decision:
    """The transition for ``action`` at ``where``, or :class:`TransitionRefused`."""
    stage = where.stage
    if action is Action.PUBLISH:
        if where.active:
            raise TransitionRefused(
                f"a publish request is already running (stage {_name(stage)}); one running "
                "request per offer: wait for it to finish, or cancel it where the rules allow"
            )
        reset = tuple((s, StepStatus.NOT_STARTED) for s in ORDER)
        return Decision(RequestStatus.RUNNING, reset, Stage.VALIDATE, What.SUBMITTED)
    if not where.active or stage is None:
        raise TransitionRefused(f"no publish request is running; nothing to {action.value}")
    if action is Action.COMPLETED:
        return _completed(stage)
    if action is Action.FAILED:
        blocked = ((stage, StepStatus.BLOCKED),)
        return Decision(RequestStatus.FAILED, blocked, None, What.STAGE_FAILED, Notice.ERROR)
    if action is Action.GO_LIVE:
        if stage is not Stage.SIGNOFF:
            raise TransitionRefused(
                f"Go live is possible only at Publisher signoff; the request is at {_name(stage)}"
            )
        done = ((Stage.SIGNOFF, StepStatus.COMPLETE),)
        return Decision(RequestStatus.RUNNING, done, Stage.LIVE, What.SIGNED_OFF)
    return _cancel(stage, window)


def _completed(stage: Stage) -> Decision:
    if stage is Stage.SIGNOFF:
        raise TransitionRefused("Publisher signoff completes only with Go live")
    done = ((stage, StepStatus.COMPLETE),)
    if stage is Stage.LIVE:
        return Decision(RequestStatus.SUCCEEDED, done, None, What.LIVE, Notice.LIVE)
    following = next_stage(stage)
    assert following is not None
    if following is Stage.SIGNOFF:
        waiting = (*done, (Stage.SIGNOFF, StepStatus.WAITING))
        return Decision(RequestStatus.WAITING, waiting, None, What.PREVIEW, Notice.PREVIEW)
    return Decision(RequestStatus.RUNNING, done, following, What.STAGE_COMPLETED)


def _cancel(stage: Stage, window: CancelWindow) -> Decision:
    if window is CancelWindow.AT_SIGNOFF:
        if stage is not Stage.SIGNOFF:
            raise TransitionRefused(
                "Cancel is accepted only once the request reaches Publisher signoff "
                f"(cancel window {window.value}); the request is at {_name(stage)}"
            )
        reset = tuple((s, StepStatus.NOT_STARTED) for s in ORDER)
        return Decision(RequestStatus.CANCELED, reset, None, What.CANCELED, Notice.CANCELED)
    if stage not in _BEFORE_SIGNOFF:
        raise TransitionRefused(
            "Cancel is accepted only before Publisher signoff "
            f"(cancel window {window.value}); the request is at {_name(stage)}"
        )
    canceled = ((stage, StepStatus.CANCELED),)
    return Decision(RequestStatus.CANCELED, canceled, None, What.CANCELED, Notice.CANCELED)


def _name(stage: Stage | None) -> str:
    return INFO[stage].name if stage is not None else "none"
