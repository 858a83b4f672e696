"""The JSON shapes of ``vmcert history|outbox|catalog --json`` and of the API's matching
resources, and the text lines the commands print from them.

Both the local commands and their ``--server`` form print from these documents, so the two
print the same lines; the API serves the same documents (``/api/offers/{id}/history``,
``/api/outbox``, ``/api/catalog``).
"""

from __future__ import annotations

from datetime import datetime

from harness.publish.history import Event
from harness.publish.status import JsonValue
from harness.publish.views import OfferSummary, SentMail

Document = dict[str, JsonValue]


def event_document(event: Event) -> Document:
    """One history event: ``what``, ``who``, ``when`` (ISO 8601), ``request``, ``stage``,
    ``detail``."""
    return {
        "what": event.what.value,
        "who": event.who,
        "when": event.when.isoformat(),
        "request": event.request,
        "stage": event.stage,
        "detail": event.detail,
    }


def event_line(document: Document) -> str:
    """``2026-12-01T10:00:00Z  alice         Stage completed: certification (detail)``, as
    :meth:`harness.publish.history.Event.line`."""
    text = str(document.get("what", "")) + (
        f": {document['stage']}" if document.get("stage") else ""
    )
    if document.get("detail"):
        text += f" ({document['detail']})"
    stamp = _time(document.get("when"), "%Y-%m-%dT%H:%M:%SZ") or "?"
    return f"{stamp}  {document.get('who', '')!s:<12}  {text}"


def mail_document(mail: SentMail) -> Document:
    """One notification: ``id``, ``offer``, ``to``, ``subject``, ``sent`` (ISO 8601 or null
    while queued), ``via``, ``error``."""
    return {
        "id": mail.id,
        "offer": mail.offer_id,
        "to": list(mail.recipients),
        "subject": mail.subject,
        "sent": mail.sent_at.isoformat() if mail.sent_at else None,
        "via": mail.via,
        "error": mail.last_error,
    }


def mail_line(document: Document) -> str:
    state = _time(document.get("sent"), "%Y-%m-%d %H:%M:%S") or "queued"
    error = f"  ({document['error']})" if document.get("error") else ""
    to = document.get("to")
    recipients = ", ".join(str(r) for r in to) if isinstance(to, list) else ""
    via = str(document.get("via") or "-")
    return f"{state:<19} {via:<7} {recipients}: {document.get('subject', '')}{error}"


def catalog_document(offer: OfferSummary) -> Document:
    """One offer a catalog query sees: ``id``, ``name``, ``publisherId``, ``availability``
    (``live`` or ``preview``)."""
    return {
        "id": offer.offer_id,
        "name": offer.name,
        "publisherId": offer.publisher,
        "availability": "live" if offer.listed else "preview",
    }


def catalog_line(document: Document) -> str:
    return (
        f"{document.get('id', '')!s:<30} {document.get('availability', '')!s:<8} "
        f"{document.get('name', '')}"
    )


def _time(value: JsonValue | None, layout: str) -> str:
    if not isinstance(value, str):
        return ""
    try:
        return datetime.fromisoformat(value).strftime(layout)
    except ValueError:
        return ""
