"""The store: every state change of the pipeline, each in one transaction.

Each public method is one transaction that reads where a request is, asks the pure
:func:`~harness.publish.model.decide` what to do, and writes the new statuses, the history events
and the queued e-mails together, so a crash leaves either all of them or none. Stage runs are
claimed with a lease (a conditional UPDATE, atomic on both backends): a worker that vanished
loses its claim when the lease runs out, or at once when its process is known to be dead, and the
stage runs again (stages are idempotent).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVarTuple, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Update,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from harness.publish.errors import PublishRefused, UnknownOffer
from harness.publish.history import SYSTEM, Event, What
from harness.publish.model import (
    INFO,
    ORDER,
    Action,
    Decision,
    Notice,
    OfferStatus,
    RequestStatus,
    Stage,
    StepStatus,
    TransitionRefused,
    Where,
    decide,
    offer_status,
)
from harness.publish.notify import compose
from harness.publish.offer import Offer
from harness.publish.outcome import Complete, Failed, Outcome, RetryLater, WaitForInput
from harness.publish.settings import PublishSettings
from harness.publish.store.tables import (
    ArtifactRow,
    EventRow,
    MessageRow,
    NotificationRow,
    OfferRow,
    RequestRow,
    StageRunRow,
    SupportRow,
    search_key,
)
from harness.publish.views import (
    ArtifactView,
    MessageView,
    OfferSummary,
    OutgoingMail,
    RequestView,
    SentMail,
    StageView,
)

MAX_MESSAGE = 4000
"""Longest stage message stored (a destination's error text can be long)."""

_Summary = tuple[
    str, str, str, bool, str, datetime, int | None, str | None, str | None, datetime | None
]
"""An offer's columns and its newest request's (``None`` when never published)."""
_Ts = TypeVarTuple("_Ts")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Claim:
    """A stage run a worker holds: everything the stage needs, read in the claiming transaction."""

    run_id: int
    request_id: int
    offer_id: str
    number: int
    stage: Stage
    attempt: int
    offer_text: str
    source_path: str
    emails: tuple[str, ...]
    owner: str


class Store:
    """The pipeline's state (see the module docstring)."""

    def __init__(
        self, engine: Engine, settings: PublishSettings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- publisher actions -------------------------------------------------------------------

    def publish(self, offer: Offer, *, actor: str, emails: Sequence[str] = ()) -> RequestView:
        """Start a new request at Validate prerequisites; refused while one is running.

        ``offer`` may have problems (Validate prerequisites reports them); only its id must be
        usable, since the request is filed under it.
        """
        if not offer.id:
            raise PublishRefused(
                "the offer has no usable offer.id (lowercase letters, digits, dashes); "
                "fix it first (`vmcert offer validate FILE` lists every problem)"
            )
        now = self.clock()
        try:
            with self._sessions.begin() as session:
                row = self._upsert_offer(session, offer, now)
                latest = self._latest(session, offer.id, lock=True)
                where = _where(latest)
                decision = decide(where, Action.PUBLISH, self.settings.cancel_window)
                number = 1 if latest is None else latest.number + 1
                request = RequestRow(
                    offer_id=row.id,
                    number=number,
                    status=decision.request_status.value,
                    stage=None,
                    active_for=row.id,
                    actor=actor,
                    emails=",".join(emails),
                    offer_text=offer.text,
                    source_path=str(offer.source or ""),
                    error="",
                    created_at=now,
                    updated_at=now,
                )
                session.add(request)
                session.flush()
                for position, stage in enumerate(ORDER):
                    session.add(
                        StageRunRow(
                            request_id=request.id,
                            stage=stage.value,
                            position=position,
                            status=StepStatus.NOT_STARTED.value,
                            estimate=self.settings.estimate(stage),
                            progress=0,
                            attempt=0,
                        )
                    )
                session.flush()
                self._apply(session, request, decision, actor, now)
                rid = request.id
        except IntegrityError:
            # Another Publish of the same offer committed between our read and our insert.
            raise PublishRefused(
                f"offer {offer.id}: a publish request is already running (a concurrent Publish "
                "started it); one running request per offer"
            ) from None
        except TransitionRefused as exc:
            raise PublishRefused(f"offer {offer.id}: {exc}") from None
        return self._request_view_by_id(rid)

    def create_offer(self, offer: Offer, *, actor: str = SYSTEM) -> OfferSummary:
        """Record a new offer that was never published (the console's New offer), with a
        *Created offer* event by ``actor``; refused when the id is not usable or already
        taken."""
        if not offer.id:
            raise PublishRefused(
                "the offer has no usable offer.id (lowercase letters, digits, dashes)"
            )
        now = self.clock()
        try:
            with self._sessions.begin() as session:
                if session.get(OfferRow, offer.id) is not None:
                    raise PublishRefused(f"offer {offer.id}: an offer with this id already exists")
                self._upsert_offer(session, offer, now)
                self._add_event(
                    session,
                    f"created:{offer.id}",
                    offer.id,
                    None,
                    What.CREATED,
                    actor,
                    now,
                    None,
                    "",
                )
        except IntegrityError:
            # Created concurrently between our read and our insert.
            raise PublishRefused(
                f"offer {offer.id}: an offer with this id already exists"
            ) from None
        return self.offer(offer.id)

    def provide_emails(self, offer_id: str, emails: Sequence[str], *, actor: str) -> RequestView:
        """The notification e-mail asked for when Validate prerequisites passes (CPP's pop-up):
        recorded, and the stage runs again to complete; an empty list fails the stage."""
        now = self.clock()
        with self._sessions.begin() as session:
            request = self._active(session, offer_id)
            run = self._run(session, request.id, Stage.VALIDATE)
            if run.status != StepStatus.IN_PROGRESS.value or run.due_at is not None:
                raise PublishRefused(
                    f"offer {offer_id}: no notification e-mail is being asked for now"
                )
            if not emails:
                self._fail(
                    session,
                    request,
                    run,
                    Failed(
                        "notifications.emails: a notification e-mail address is required: "
                        "pass --email ADDRESS or add [notifications] emails to the offer file"
                    ),
                    now,
                )
            else:
                request.emails = ",".join(emails)
                run.due_at = now
                self._event(session, request, What.EMAIL_GIVEN, actor, now, None, ", ".join(emails))
            rid = request.id
        return self._request_view_by_id(rid)

    def go_live(self, offer_id: str, *, actor: str) -> RequestView:
        return self._act(offer_id, Action.GO_LIVE, actor)

    def cancel(self, offer_id: str, *, actor: str) -> RequestView:
        return self._act(offer_id, Action.CANCEL, actor)

    def _act(self, offer_id: str, action: Action, actor: str) -> RequestView:
        now = self.clock()
        with self._sessions.begin() as session:
            latest = self._latest(session, offer_id, lock=True)
            if latest is None:
                self._offer(session, offer_id)  # UnknownOffer when it does not exist
            try:
                decision = decide(_where(latest), action, self.settings.cancel_window)
            except TransitionRefused as exc:
                raise PublishRefused(f"offer {offer_id}: {exc}") from None
            assert latest is not None
            self._apply(session, latest, decision, actor, now)
            rid = latest.id
        return self._request_view_by_id(rid)

    # -- workers -----------------------------------------------------------------------------

    def due_runs(self, limit: int = 100) -> list[int]:
        """Stage runs whose due time has come and that nobody holds (or whose lease ran out)."""
        now = self.clock()
        with self._sessions() as session:
            rows = session.scalars(
                select(StageRunRow.id)
                .where(
                    StageRunRow.status == StepStatus.IN_PROGRESS.value,
                    StageRunRow.due_at.is_not(None),
                    StageRunRow.due_at <= now,
                    or_(StageRunRow.lease_until.is_(None), StageRunRow.lease_until < now),
                )
                .order_by(StageRunRow.due_at)
                .limit(limit)
            )
            return list(rows)

    def pending(self, offer_id: str) -> bool:
        """Whether the offer's newest request has a stage scheduled or running (not waiting for
        a person, not ended)."""
        with self._sessions() as session:
            latest = self._latest(session, offer_id)
            if latest is None or not RequestStatus(latest.status).active:
                return False
            found = session.scalar(
                select(StageRunRow.id).where(
                    StageRunRow.request_id == latest.id,
                    StageRunRow.status == StepStatus.IN_PROGRESS.value,
                    StageRunRow.due_at.is_not(None),
                )
            )
            return found is not None

    def release_dead(self, is_dead: Callable[[str], bool]) -> int:
        """End the leases of owners known to be dead (a worker on this host that was killed), so
        their stages resume now rather than when the lease runs out."""
        now = self.clock()
        released = 0
        with self._sessions.begin() as session:
            held = session.execute(
                select(StageRunRow.id, StageRunRow.owner).where(
                    StageRunRow.owner.is_not(None), StageRunRow.lease_until >= now
                )
            ).all()
            for run_id, owner in held:
                if owner is not None and is_dead(owner):
                    result = _updated(
                        session,
                        update(StageRunRow)
                        .where(StageRunRow.id == run_id, StageRunRow.owner == owner)
                        .values(lease_until=now - timedelta(seconds=1)),
                    )
                    released += result
        return released

    def claim(self, run_id: int, owner: str) -> Claim | None:
        """Take a due stage run for ``owner`` (``None`` when someone else has it or it ended)."""
        now = self.clock()
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        with self._sessions.begin() as session:
            previous = session.scalar(select(StageRunRow.owner).where(StageRunRow.id == run_id))
            result = _updated(
                session,
                update(StageRunRow)
                .where(
                    StageRunRow.id == run_id,
                    StageRunRow.status == StepStatus.IN_PROGRESS.value,
                    StageRunRow.due_at.is_not(None),
                    StageRunRow.due_at <= now,
                    or_(StageRunRow.lease_until.is_(None), StageRunRow.lease_until < now),
                )
                .values(owner=owner, lease_until=lease, attempt=StageRunRow.attempt + 1),
            )
            if result != 1:
                return None
            run = session.get_one(StageRunRow, run_id)
            request = session.get_one(RequestRow, run.request_id)
            stage = Stage(run.stage)
            if previous is not None:
                self._event(
                    session,
                    request,
                    What.STAGE_RESUMED,
                    SYSTEM,
                    now,
                    stage,
                    f"attempt {run.attempt}",
                    key=f"r{request.id}:{stage.value}:resumed:{run.attempt}",
                )
            return Claim(
                run_id=run.id,
                request_id=request.id,
                offer_id=request.offer_id,
                number=request.number,
                stage=stage,
                attempt=run.attempt,
                offer_text=request.offer_text,
                source_path=request.source_path,
                emails=_split(request.emails),
                owner=owner,
            )

    def heartbeat(self, claim: Claim, progress: int | None = None) -> bool:
        """Extend the lease (and record progress); ``False`` when the claim was lost or the stage
        no longer runs (canceled), which tells the stage to stop."""
        now = self.clock()
        values: dict[str, object] = {
            "lease_until": now + timedelta(seconds=self.settings.lease_seconds)
        }
        if progress is not None:
            values["progress"] = max(0, min(100, progress))
        with self._sessions.begin() as session:
            result = _updated(
                session,
                update(StageRunRow)
                .where(
                    StageRunRow.id == claim.run_id,
                    StageRunRow.owner == claim.owner,
                    StageRunRow.status == StepStatus.IN_PROGRESS.value,
                )
                .values(**values),
            )
            return result == 1

    def finish(self, claim: Claim, outcome: Outcome) -> bool:
        """Record a stage's outcome and apply the transition; ``False`` (nothing written) when the
        claim was lost meanwhile: the new holder's outcome counts, never both."""
        now = self.clock()
        with self._sessions.begin() as session:
            result = _updated(
                session,
                update(StageRunRow)
                .where(
                    StageRunRow.id == claim.run_id,
                    StageRunRow.owner == claim.owner,
                    StageRunRow.status == StepStatus.IN_PROGRESS.value,
                )
                .values(owner=None, lease_until=None),
            )
            if result != 1:
                return False
            run = session.get_one(StageRunRow, claim.run_id)
            request = session.get_one(RequestRow, claim.request_id)
            if isinstance(outcome, RetryLater) and run.attempt > self.settings.retry_limit:
                outcome = Failed(f"{outcome.message} (gave up after {run.attempt} attempts)")
            if isinstance(outcome, Complete):
                for text in outcome.messages:
                    self._message(session, run, "information", text, now)
                for artifact in outcome.artifacts:
                    session.add(
                        ArtifactRow(
                            stage_run_id=run.id, kind=artifact.kind, path=str(artifact.path)
                        )
                    )
                run.progress = 100
                decision = decide(_where(request), Action.COMPLETED, self.settings.cancel_window)
                self._event(session, request, What.STAGE_COMPLETED, SYSTEM, now, claim.stage)
                self._apply(
                    session, request, decision, SYSTEM, now, detail=" ".join(outcome.messages)
                )
            elif isinstance(outcome, Failed):
                for artifact in outcome.artifacts:
                    session.add(
                        ArtifactRow(
                            stage_run_id=run.id, kind=artifact.kind, path=str(artifact.path)
                        )
                    )
                self._fail(session, request, run, outcome, now)
            elif isinstance(outcome, RetryLater):
                delay = outcome.delay or self.settings.retry_delay_seconds
                run.due_at = now + timedelta(seconds=delay)
                self._message(session, run, "information", f"{outcome.message}; trying again", now)
            else:
                assert isinstance(outcome, WaitForInput)
                run.due_at = None
                self._message(session, run, "information", outcome.message, now)
            request.updated_at = now
        return True

    # -- notifications -----------------------------------------------------------------------

    def claim_mail(self, owner: str, limit: int = 20) -> list[OutgoingMail]:
        """Unsent notifications, leased to ``owner`` for delivery."""
        now = self.clock()
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        claimed: list[OutgoingMail] = []
        with self._sessions.begin() as session:
            ids = session.scalars(
                select(NotificationRow.id)
                .where(
                    NotificationRow.sent_at.is_(None),
                    or_(NotificationRow.lease_until.is_(None), NotificationRow.lease_until < now),
                    NotificationRow.attempts < 10,
                )
                .order_by(NotificationRow.id)
                .limit(limit)
            ).all()
            for mail_id in ids:
                result = _updated(
                    session,
                    update(NotificationRow)
                    .where(
                        NotificationRow.id == mail_id,
                        NotificationRow.sent_at.is_(None),
                        or_(
                            NotificationRow.lease_until.is_(None),
                            NotificationRow.lease_until < now,
                        ),
                    )
                    .values(owner=owner, lease_until=lease, attempts=NotificationRow.attempts + 1),
                )
                if result == 1:
                    row = session.get_one(NotificationRow, mail_id)
                    claimed.append(
                        OutgoingMail(
                            row.id,
                            row.offer_id,
                            _split(row.recipients),
                            row.subject,
                            row.body,
                            row.attachment,
                        )
                    )
        return claimed

    def mail_done(self, mail_id: int, via: str, error: str = "") -> None:
        """Record a delivery (``error`` empty) or a failed attempt (tried again later)."""
        now = self.clock()
        with self._sessions.begin() as session:
            row = session.get_one(NotificationRow, mail_id)
            row.owner = None
            if error:
                row.last_error = self.settings.masker.mask(error)[:MAX_MESSAGE]
                row.lease_until = now + timedelta(seconds=self.settings.retry_delay_seconds)
            else:
                row.sent_at, row.via, row.lease_until, row.last_error = now, via, None, ""

    def mails(self, offer_id: str | None = None) -> list[SentMail]:
        with self._sessions() as session:
            query = select(NotificationRow).order_by(NotificationRow.id)
            if offer_id is not None:
                query = query.where(NotificationRow.offer_id == offer_id)
            return [
                SentMail(
                    r.id,
                    r.offer_id,
                    _split(r.recipients),
                    r.subject,
                    r.created_at,
                    r.sent_at,
                    r.via,
                    r.last_error,
                )
                for r in session.scalars(query)
            ]

    # -- support -----------------------------------------------------------------------------

    def add_support(self, offer_id: str, *, who: str, message: str, bundle: str) -> int:
        """A support request record, its history event and its e-mail (to the support address,
        or the offer's notification addresses when none is configured)."""
        now = self.clock()
        with self._sessions.begin() as session:
            self._offer(session, offer_id)
            latest = self._latest(session, offer_id)
            recipients = self.settings.support_email or (latest.emails if latest else "")
            row = SupportRow(
                offer_id=offer_id,
                who=who,
                message=message,
                bundle=bundle,
                emailed_to=recipients,
                created_at=now,
            )
            session.add(row)
            session.flush()
            self._add_event(
                session, f"support:{row.id}", offer_id, None, What.SUPPORT, who, now, None, bundle
            )
            if recipients:
                stage = f" at {INFO[Stage(latest.stage)].name}" if latest and latest.stage else ""
                status = latest.status if latest else "never published"
                self._notify_raw(
                    session,
                    f"support:{row.id}",
                    offer_id,
                    recipients,
                    f"[vmcert] support request {row.id} for {offer_id}",
                    f"Support request {row.id} for offer {offer_id} ({status}{stage}) "
                    f"from {who}:\n\n{message}\n\nThe support bundle is attached ({bundle}).\n",
                    bundle,
                    now,
                )
            return row.id

    # -- views -------------------------------------------------------------------------------

    def request(self, offer_id: str, number: int | None = None) -> RequestView | None:
        """The offer's request ``number`` (default: the newest); ``None`` if never published."""
        with self._sessions() as session:
            self._offer(session, offer_id)
            query = select(RequestRow).where(RequestRow.offer_id == offer_id)
            if number is not None:
                query = query.where(RequestRow.number == number)
            row = session.scalars(query.order_by(RequestRow.number.desc()).limit(1)).first()
            return None if row is None else self._request_view(session, row)

    def _request_view_by_id(self, request_id: int) -> RequestView:
        with self._sessions() as session:
            return self._request_view(session, session.get_one(RequestRow, request_id))

    def offers(self) -> list[OfferSummary]:
        """The All-offers view: every offer with its status and current stage (one query,
        whatever the number of offers)."""
        with self._sessions() as session:
            return [self._summary_of(row) for row in self._summary_rows(session)]

    def offers_page(
        self, *, query: str = "", status: OfferStatus | None = None, page: int = 1, size: int = 100
    ) -> tuple[list[OfferSummary], int, int]:
        """One page of All offers, newest change first: the offers whose name or id contains
        ``query`` (case-insensitive) and whose status is ``status``; returns the page's offers,
        how many match, and the page number (clamped to the pages there are). Filtering, order
        and paging happen in the database: two queries (count, page), only the page's rows read.
        """
        size = max(1, size)
        with self._sessions() as session:
            total = session.scalar(
                self._filtered(
                    select(func.count()).select_from(OfferRow), query, status, join=bool(status)
                )
            )
            count = int(total or 0)
            pages = max(1, -(-count // size))
            page = min(max(1, page), pages)
            rows = self._summary_rows(
                session, text=query, status=status, window=((page - 1) * size, size)
            )
            return [self._summary_of(row) for row in rows], count, page

    def _filtered(
        self, query: Select[*_Ts], text: str, status: OfferStatus | None, *, join: bool = True
    ) -> Select[*_Ts]:
        """``query`` over offers joined to their newest request, narrowed by search text and
        status (the status computed as :func:`~harness.publish.model.offer_status` does).
        ``join=False`` (a count without a status filter) leaves the requests out."""
        if join or status is not None:
            query = query.outerjoin(RequestRow, _newest_request())
        needle = text.strip().casefold().replace("\n", " ")
        if needle:
            # Python casefolds both sides: SQL's lower() differs between the databases.
            query = query.where(OfferRow.search_text.contains(needle, autoescape=True))
        if status is not None:
            query = query.where(_status_sql() == status.value)
        return query

    def offer(self, offer_id: str) -> OfferSummary:
        with self._sessions() as session:
            rows = self._summary_rows(session, offer_id)
            if not rows:
                self._offer(session, offer_id)  # UnknownOffer
            return self._summary_of(rows[0])

    def offer_text(self, offer_id: str) -> tuple[str, str]:
        """The offer file as last published, and where it was read from."""
        with self._sessions() as session:
            row = self._offer(session, offer_id)
            return row.offer_text, row.source_path

    def history(self, offer_id: str) -> list[Event]:
        """Every event of the offer, oldest first."""
        with self._sessions() as session:
            self._offer(session, offer_id)
            numbers = {
                rid: number
                for rid, number in session.execute(
                    select(RequestRow.id, RequestRow.number).where(RequestRow.offer_id == offer_id)
                )
            }
            rows = session.scalars(
                select(EventRow).where(EventRow.offer_id == offer_id).order_by(EventRow.id)
            )
            return [
                Event(
                    offer_id=r.offer_id,
                    request=numbers.get(r.request_id) if r.request_id is not None else None,
                    what=What(r.what),
                    who=r.who,
                    when=r.at,
                    stage=r.stage,
                    detail=r.detail,
                )
                for r in rows
            ]

    def catalog(self, subscription: str | None) -> list[OfferSummary]:
        """What a catalog query sees: live offers, plus offers in preview whose preview audience
        holds ``subscription`` (a query with another subscription, or none, does not see them)."""
        wanted = (subscription or "").strip().lower()
        visible: list[OfferSummary] = []
        with self._sessions() as session:
            for row in self._summary_rows(session):
                summary = self._summary_of(row)
                audience = {s.strip().lower() for s in row[4].split(",") if s}
                in_preview = summary.status is OfferStatus.PREVIEW or (
                    summary.status is OfferStatus.IN_PROGRESS and summary.stage is Stage.LIVE
                )
                if row[3] or (in_preview and wanted and wanted in audience):
                    visible.append(summary)
        return visible

    # -- internals ---------------------------------------------------------------------------

    def _upsert_offer(self, session: Session, offer: Offer, now: datetime) -> OfferRow:
        row = session.get(OfferRow, offer.id)
        if row is None:
            row = OfferRow(id=offer.id, listed=False, created_at=now)
            session.add(row)
        row.publisher = offer.publisher[:50]
        row.name = (offer.name or offer.id)[:200]
        row.search_text = search_key(row.name, offer.id)
        row.offer_text = offer.text
        row.source_path = str(offer.source or "")
        row.preview_audience = ",".join(offer.preview_subscriptions)
        row.updated_at = now
        session.flush()
        return row

    def _offer(self, session: Session, offer_id: str) -> OfferRow:
        row = session.get(OfferRow, offer_id)
        if row is None:
            raise UnknownOffer(f"no offer {offer_id!r} here (`vmcert offers` lists them)")
        return row

    def _latest(self, session: Session, offer_id: str, *, lock: bool = False) -> RequestRow | None:
        query = (
            select(RequestRow)
            .where(RequestRow.offer_id == offer_id)
            .order_by(RequestRow.number.desc())
            .limit(1)
        )
        if lock:
            query = query.with_for_update()
        return session.scalars(query).first()

    def _active(self, session: Session, offer_id: str) -> RequestRow:
        latest = self._latest(session, offer_id, lock=True)
        if latest is None or not RequestStatus(latest.status).active:
            self._offer(session, offer_id)
            raise PublishRefused(f"offer {offer_id}: no publish request is running")
        return latest

    def _run(self, session: Session, request_id: int, stage: Stage) -> StageRunRow:
        return session.scalars(
            select(StageRunRow).where(
                StageRunRow.request_id == request_id, StageRunRow.stage == stage.value
            )
        ).one()

    def _apply(
        self,
        session: Session,
        request: RequestRow,
        decision: Decision,
        actor: str,
        now: datetime,
        *,
        detail: str = "",
        mail_detail: str = "",
    ) -> None:
        """Write a decision: statuses, the started stage, history, e-mail, listing."""
        stopped_at = Stage(request.stage) if request.stage else None
        runs = {
            Stage(r.stage): r
            for r in session.scalars(
                select(StageRunRow).where(StageRunRow.request_id == request.id)
            )
        }
        for stage, status in decision.stages:
            run = runs[stage]
            run.status = status.value
            if status is StepStatus.NOT_STARTED:
                run.started_at = run.finished_at = run.due_at = None
                run.progress, run.owner, run.lease_until = 0, None, None
                session.execute(delete(MessageRow).where(MessageRow.stage_run_id == run.id))
            elif status is StepStatus.WAITING:
                run.started_at, run.due_at = now, None
                self._message(session, run, "information", "Waiting for Go live.", now)
            else:
                run.finished_at = now if status is not StepStatus.IN_PROGRESS else None
                run.due_at = None
        request.status = decision.request_status.value
        request.updated_at = now
        if decision.start is not None:
            run = runs[decision.start]
            run.status = StepStatus.IN_PROGRESS.value
            run.started_at, run.due_at, run.finished_at = now, now, None
            run.progress, run.attempt, run.owner, run.lease_until = 0, 0, None, None
            request.stage = decision.start.value
        elif decision.request_status is RequestStatus.WAITING:
            request.stage = Stage.SIGNOFF.value
        elif decision.request_status is RequestStatus.CANCELED:
            request.stage = None
        if not decision.request_status.active:
            request.active_for = None
            request.finished_at = now
        if decision.history is not What.STAGE_COMPLETED:
            self._event(session, request, decision.history, actor, now, stopped_at, detail)
        if decision.start is not None:
            self._event(session, request, What.STAGE_STARTED, SYSTEM, now, decision.start)
        if decision.request_status is RequestStatus.SUCCEEDED:
            session.get_one(OfferRow, request.offer_id).listed = True
        if decision.notice is not None and stopped_at is not None:
            text = mail_detail or detail or request.error
            self._notify(session, request, decision.notice, stopped_at, text, now)

    def _fail(
        self, session: Session, request: RequestRow, run: StageRunRow, failed: Failed, now: datetime
    ) -> None:
        mask = self.settings.masker.mask
        message = mask(failed.message)[:MAX_MESSAGE]
        self._message(session, run, "error", message, now)
        for line in failed.details[:200]:
            self._message(session, run, "error", mask(line)[:MAX_MESSAGE], now)
        request.error = message
        decision = decide(_where(request), Action.FAILED, self.settings.cancel_window)
        detail = "\n".join([message, *(mask(d) for d in failed.details[:50])])
        self._apply(session, request, decision, SYSTEM, now, detail=message, mail_detail=detail)
        if failed.attachment is not None:
            key = f"r{request.id}:{Notice.ERROR.value}:{run.stage}"
            mail = session.scalars(
                select(NotificationRow).where(NotificationRow.key == key)
            ).first()
            if mail is not None:
                mail.attachment = str(failed.attachment)

    def _message(
        self, session: Session, run: StageRunRow, level: str, text: str, now: datetime
    ) -> None:
        masked = self.settings.masker.mask(text)[:MAX_MESSAGE]
        session.add(MessageRow(stage_run_id=run.id, level=level, text=masked, at=now))

    def _event(
        self,
        session: Session,
        request: RequestRow,
        what: What,
        who: str,
        now: datetime,
        stage: Stage | None,
        detail: str = "",
        *,
        key: str | None = None,
    ) -> None:
        key = key or f"r{request.id}:{what.name}:{stage.value if stage else '-'}"
        self._add_event(session, key, request.offer_id, request.id, what, who, now, stage, detail)

    def _add_event(
        self,
        session: Session,
        key: str,
        offer_id: str,
        request_id: int | None,
        what: What,
        who: str,
        now: datetime,
        stage: Stage | None,
        detail: str,
    ) -> None:
        exists = session.scalar(select(EventRow.id).where(EventRow.key == key))
        if exists is not None:
            return  # recorded by an earlier attempt of the same transition: never doubled
        session.add(
            EventRow(
                key=key,
                offer_id=offer_id,
                request_id=request_id,
                what=what.value,
                who=who,
                at=now,
                stage=stage.value if stage else None,
                detail=self.settings.masker.mask(detail)[:MAX_MESSAGE],
            )
        )

    def _notify(
        self,
        session: Session,
        request: RequestRow,
        notice: Notice,
        stage: Stage,
        message: str,
        now: datetime,
    ) -> None:
        if not request.emails:
            return  # failed before an address was given: the status shows it
        offer = session.get_one(OfferRow, request.offer_id)
        subject, body = compose(notice, offer.id, offer.name, request.number, stage, message)
        key = f"r{request.id}:{notice.value}:{stage.value}"
        self._notify_raw(session, key, offer.id, request.emails, subject, body, None, now)

    def _notify_raw(
        self,
        session: Session,
        key: str,
        offer_id: str,
        recipients: str,
        subject: str,
        body: str,
        attachment: str | None,
        now: datetime,
    ) -> None:
        if session.scalar(select(NotificationRow.id).where(NotificationRow.key == key)) is not None:
            return
        mask = self.settings.masker.mask
        session.add(
            NotificationRow(
                key=key,
                offer_id=offer_id,
                recipients=recipients,
                subject=mask(subject),
                body=mask(body),
                attachment=attachment,
                created_at=now,
                via="",
                attempts=0,
                last_error="",
            )
        )

    def _summary_rows(
        self,
        session: Session,
        offer_id: str | None = None,
        *,
        text: str = "",
        status: OfferStatus | None = None,
        window: tuple[int, int] | None = None,
    ) -> list[_Summary]:
        """Each offer with the columns of its newest request (NULLs when never published), in
        one query: the request whose number is the offer's highest (a correlated lookup on the
        ``(offer_id, number)`` unique index). Only the columns a summary needs are read (not
        the offer files). ``text`` and ``status`` narrow as :meth:`offers_page` says;
        ``window`` (offset, limit) orders newest change first and reads only that slice."""
        query = self._filtered(
            select(
                OfferRow.id,
                OfferRow.name,
                OfferRow.publisher,
                OfferRow.listed,
                OfferRow.preview_audience,
                OfferRow.updated_at,
                RequestRow.number,
                RequestRow.status,
                RequestRow.stage,
                RequestRow.updated_at.label("request_updated_at"),
            ),
            text,
            status,
        )
        if offer_id is not None:
            query = query.where(OfferRow.id == offer_id)
        if window is not None:
            changed = case(
                (RequestRow.updated_at > OfferRow.updated_at, RequestRow.updated_at),
                else_=OfferRow.updated_at,
            )
            offset, limit = window
            query = query.order_by(changed.desc(), OfferRow.id).offset(offset).limit(limit)
        # Outer join: the request columns are NULL for an offer never published.
        return cast("list[_Summary]", list(session.execute(query)))

    def _summary_of(self, row: _Summary) -> OfferSummary:
        offer_id, name, publisher, listed, _audience, updated, number, status, stage, changed = row
        current = Stage(stage) if stage else None
        return OfferSummary(
            offer_id=offer_id,
            name=name,
            publisher=publisher,
            status=offer_status(RequestStatus(status) if status else None, current),
            stage=current,
            estimate=self.settings.estimate(current) if current else "",
            request=number,
            updated_at=max(updated, changed) if changed is not None else updated,
            listed=listed,
        )

    def _request_view(self, session: Session, row: RequestRow) -> RequestView:
        runs = list(
            session.scalars(
                select(StageRunRow)
                .where(StageRunRow.request_id == row.id)
                .order_by(StageRunRow.position)
            )
        )
        ids = [r.id for r in runs]
        messages: dict[int, list[MessageView]] = {i: [] for i in ids}
        for m in session.scalars(
            select(MessageRow).where(MessageRow.stage_run_id.in_(ids)).order_by(MessageRow.id)
        ):
            messages[m.stage_run_id].append(MessageView(m.level, m.text, m.at))
        artifacts: dict[int, list[ArtifactView]] = {i: [] for i in ids}
        for a in session.scalars(
            select(ArtifactRow).where(ArtifactRow.stage_run_id.in_(ids)).order_by(ArtifactRow.id)
        ):
            artifacts[a.stage_run_id].append(ArtifactView(a.kind, a.path))
        offer = session.get_one(OfferRow, row.offer_id)
        return RequestView(
            offer_id=row.offer_id,
            offer_name=offer.name,
            number=row.number,
            status=RequestStatus(row.status),
            stage=Stage(row.stage) if row.stage else None,
            actor=row.actor,
            emails=_split(row.emails),
            error=row.error,
            created_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
            stages=tuple(
                StageView(
                    stage=Stage(r.stage),
                    status=StepStatus(r.status),
                    estimate=r.estimate,
                    progress=r.progress,
                    started_at=r.started_at,
                    finished_at=r.finished_at,
                    attempt=r.attempt,
                    messages=tuple(messages[r.id]),
                    artifacts=tuple(artifacts[r.id]),
                )
                for r in runs
            ),
        )


def _newest_request() -> ColumnElement[bool]:
    """Join condition: an offer's request with the highest number (none when never published)."""
    newest = (
        select(func.max(RequestRow.number))
        .where(RequestRow.offer_id == OfferRow.id)
        .correlate(OfferRow)
        .scalar_subquery()
    )
    return and_(RequestRow.offer_id == OfferRow.id, RequestRow.number == newest)


def _status_sql() -> ColumnElement[str]:
    """:func:`~harness.publish.model.offer_status` as SQL over the newest request's columns
    (tests/test_web_store.py checks that both agree for every status)."""
    status, stage = RequestRow.status, RequestRow.stage
    return case(
        (status.is_(None), OfferStatus.NEVER_PUBLISHED.value),
        (
            or_(
                status == RequestStatus.WAITING.value,
                and_(status == RequestStatus.RUNNING.value, stage == Stage.SIGNOFF.value),
            ),
            OfferStatus.PREVIEW.value,
        ),
        (status == RequestStatus.RUNNING.value, OfferStatus.IN_PROGRESS.value),
        (status == RequestStatus.SUCCEEDED.value, OfferStatus.LIVE.value),
        (status == RequestStatus.FAILED.value, OfferStatus.ATTENTION.value),
        else_=OfferStatus.CANCELED.value,
    )


def _where(request: RequestRow | None) -> Where:
    if request is None:
        return Where(None, None)
    return Where(RequestStatus(request.status), Stage(request.stage) if request.stage else None)


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _updated(session: Session, statement: Update) -> int:
    """Rows matched by a conditional UPDATE (the claim primitive); run on the session's
    connection, in its transaction."""
    return session.connection().execute(statement).rowcount
