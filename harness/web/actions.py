"""Which publisher actions the rules allow for an offer right now.

The answer comes from the pipeline's own transition table (:func:`harness.publish.model.decide`),
so the console shows a button exactly when the store would accept the action.
"""

from __future__ import annotations

from enum import StrEnum

from harness.publish.model import (
    Action,
    CancelWindow,
    Stage,
    TransitionRefused,
    Where,
    decide,
)
from harness.publish.views import RequestView


class WebAction(StrEnum):
    PUBLISH = "publish"
    GO_LIVE = "golive"
    CANCEL = "cancel"
    SUPPORT = "support"
    EMAILS = "emails"
    """The notification e-mail Validate prerequisites asks for when the request has none."""


_MODEL = {
    WebAction.PUBLISH: Action.PUBLISH,
    WebAction.GO_LIVE: Action.GO_LIVE,
    WebAction.CANCEL: Action.CANCEL,
}


def where(request: RequestView | None) -> Where:
    if request is None or not request.status.active:
        return Where(None if request is None else request.status, None)
    return Where(request.status, request.stage)


def allowed(request: RequestView | None, window: CancelWindow) -> tuple[WebAction, ...]:
    """The actions the rules allow for an offer whose newest request is ``request``; Open
    support request is always allowed."""
    here = where(request)
    result: list[WebAction] = []
    for action, model_action in _MODEL.items():
        try:
            decide(here, model_action, window)
        except TransitionRefused:
            continue
        result.append(action)
    result.append(WebAction.SUPPORT)
    if here.active and here.stage is Stage.VALIDATE and request and not request.emails:
        result.append(WebAction.EMAILS)
    return tuple(result)
