"""History events: what happened to an offer, who did it and when.

Every transition of a publish request is one event, written in the same database transaction as
the state change it records (never lost) under a unique key (never doubled, even when a stage is
re-run after a worker died). ``who`` is the publisher's name for their actions and ``system`` for
the pipeline's own steps, as in Partner Center's History page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

SYSTEM = "system"
"""The actor of the pipeline's own steps."""


class What(StrEnum):
    """Event kinds, worded like Partner Center's History page where it has one."""

    CREATED = "Created offer"
    SUBMITTED = "Submitted offer to preview"
    STAGE_STARTED = "Stage started"
    STAGE_RESUMED = "Stage resumed after a worker stopped"
    STAGE_COMPLETED = "Stage completed"
    STAGE_FAILED = "Stage failed"
    EMAIL_GIVEN = "Notification e-mail set"
    PREVIEW = "Offer available in preview"
    SIGNED_OFF = "Sign-off to go live"
    CANCELED = "Canceled submission to preview"
    LIVE = "Offer live"
    SUPPORT = "Opened a support request"


@dataclass(frozen=True)
class Event:
    """One history row as the views read it."""

    offer_id: str
    request: int | None
    """The publish request's number for this offer (1, 2, ...), ``None`` for offer-level events."""
    what: What
    who: str
    when: datetime
    stage: str | None = None
    detail: str = ""

    def line(self) -> str:
        """``2026-12-01T10:00:00Z  alice  Stage completed: certification (detail)``."""
        text = self.what.value + (f": {self.stage}" if self.stage else "")
        if self.detail:
            text += f" ({self.detail})"
        stamp = self.when.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp}  {self.who:<12}  {text}"
