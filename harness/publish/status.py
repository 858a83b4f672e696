"""The status JSON in the Cloud Partner Portal's shape (``GET .../offers/<id>/status``).

``status``, ``messages``, ``steps[]`` (``id``, ``stepName``, ``description``,
``estimatedTimeFrame``, ``status``, ``messages[]{messageHtml, level, timestamp}``,
``progressPercentage``), ``previewLinks``, ``liveLinks``, ``notificationEmails``. Message text is
HTML-escaped into ``messageHtml`` (it is HTML in CPP's contract, and an offer's text must never
become markup). vmcert adds its own fields under names CPP does not use (``offerId``,
``requestNumber``, ``startedAt``, ``finishedAt``, ``currentStep``).
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from harness.publish.model import OfferStatus, RequestStatus, Stage, StepStatus, offer_status
from harness.publish.views import MessageView, RequestView, StageView

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _message(message: MessageView) -> dict[str, JsonValue]:
    return {
        "messageHtml": escape(message.text),
        "level": message.level,
        "timestamp": _stamp(message.at),
    }


def _step(view: StageView) -> dict[str, JsonValue]:
    info = view.info
    messages: list[JsonValue] = [_message(m) for m in view.messages]
    if view.status is StepStatus.NOT_STARTED and not messages:
        messages.append(
            {
                "messageHtml": "This step has not started yet.",
                "level": "information",
                "timestamp": None,
            }
        )
    return {
        "estimatedTimeFrame": view.estimate,
        "id": info.step_id,
        "stepName": info.name,
        "description": info.description,
        "status": view.status.value,
        "messages": messages,
        "progressPercentage": 100 if view.status is StepStatus.COMPLETE else view.progress,
        "startedAt": _stamp(view.started_at),
        "finishedAt": _stamp(view.finished_at),
    }


def status_document(
    request: RequestView, *, preview_links: list[str] | None = None
) -> dict[str, JsonValue]:
    """The status resource of an offer's newest request."""
    links: list[JsonValue] = [
        {"displayText": "Product page (preview)", "uri": link} for link in preview_links or []
    ]
    live = request.status is RequestStatus.SUCCEEDED
    messages: list[JsonValue] = []
    if request.error:
        messages.append({"messageHtml": escape(request.error), "level": "error", "timestamp": None})
    return {
        "status": request.status.value,
        "offerStatus": offer_status(request.status, request.stage).value,
        "offerId": request.offer_id,
        "requestNumber": request.number,
        "currentStep": None if request.stage is None else _step_id(request.stage),
        "messages": messages,
        "steps": [_step(view) for view in request.stages],
        "previewLinks": [] if live else links,
        "liveLinks": links if live else [],
        "notificationEmails": ",".join(request.emails),
    }


def never_published(offer_id: str) -> dict[str, JsonValue]:
    return {
        "status": OfferStatus.NEVER_PUBLISHED.value,
        "offerStatus": OfferStatus.NEVER_PUBLISHED.value,
        "offerId": offer_id,
        "messages": [],
        "steps": [],
        "previewLinks": [],
        "liveLinks": [],
        "notificationEmails": "",
    }


def _step_id(stage: Stage) -> str:
    from harness.publish.model import INFO

    return INFO[stage].step_id
