"""The pipeline's tables (SQLAlchemy 2 declarative); Alembic migrations create them.

One row per offer, per publish request (one per Publish), per stage of a request, per message
and artifact of a stage, per history event and per notification. Invariants the database
enforces rather than the code:

* one running request per offer: ``publish_requests.active_for`` holds the offer id while the
  request is running or waiting at sign-off and ``NULL`` afterwards, under a unique constraint
  (NULLs never collide in SQLite or PostgreSQL), so two concurrent Publish cannot both insert;
* no doubled event or e-mail: ``events.key`` and ``notifications.key`` are unique.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC out, on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def search_key(name: str, offer_id: str) -> str:
    """An offer's name and id casefolded by Python (one rule on every database: SQLite's
    lower() folds ASCII only, PostgreSQL's follows the database's locale)."""
    return f"{name}\n{offer_id}".casefold()


class OfferRow(Base):
    __tablename__ = "offers"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    publisher: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    offer_text: Mapped[str] = mapped_column(Text)
    """The offer file as last published (inline secrets masked when shown)."""
    source_path: Mapped[str] = mapped_column(Text)
    preview_audience: Mapped[str] = mapped_column(Text, default="")
    """Comma-separated subscription ids that see the offer in preview."""
    listed: Mapped[bool] = mapped_column(Boolean, default=False)
    """Publicly listed (the Live stage completed once)."""
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    """:func:`search_key` of the name and id: what All offers' search matches."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RequestRow(Base):
    __tablename__ = "publish_requests"
    __table_args__ = (UniqueConstraint("offer_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active_for: Mapped[str | None] = mapped_column(String(50), nullable=True, unique=True)
    actor: Mapped[str] = mapped_column(String(200))
    emails: Mapped[str] = mapped_column(Text, default="")
    offer_text: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StageRunRow(Base):
    __tablename__ = "stage_runs"
    __table_args__ = (UniqueConstraint("request_id", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("publish_requests.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    estimate: Mapped[str] = mapped_column(String(64), default="")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    """When the ticker should run it; ``NULL`` while it waits for a person or has ended."""
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MessageRow(Base):
    __tablename__ = "stage_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stage_run_id: Mapped[int] = mapped_column(ForeignKey("stage_runs.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ArtifactRow(Base):
    __tablename__ = "stage_artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stage_run_id: Mapped[int] = mapped_column(ForeignKey("stage_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    offer_id: Mapped[str] = mapped_column(String(50), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("publish_requests.id"), nullable=True)
    what: Mapped[str] = mapped_column(String(64))
    who: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class NotificationRow(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    offer_id: Mapped[str] = mapped_column(String(50), index=True)
    recipients: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    attachment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    via: Mapped[str] = mapped_column(String(16), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SupportRow(Base):
    __tablename__ = "support_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer_id: Mapped[str] = mapped_column(String(50), index=True)
    who: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    bundle: Mapped[str] = mapped_column(Text)
    emailed_to: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
