"""The console's HTML pages: sign in and out, All offers, Status (with its actions and the small
JSON the page polls), History.

Every page needs a signed-in session; every form carries the session's CSRF token and every POST
checks it (and a cross-site ``Origin``). Actions answer with a redirect to the Status page and a
one-time notice (303, so a reload does not repeat them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from harness.errors import VmcertError
from harness.publish.errors import UnknownOffer
from harness.publish.history import What
from harness.publish.model import INFO, OfferStatus, StepStatus, offer_status
from harness.publish.offer import EMAIL_RE
from harness.publish.views import OfferSummary, RequestView
from harness.web.actions import WebAction, allowed
from harness.web.auth import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    Session,
    same_token,
    token_name,
    verify_password,
)
from harness.web.context import SECURITY_HEADERS, WebContext, stamp
from harness.web.files import product_page

OFFER_LABELS: dict[str, str] = {
    OfferStatus.NEVER_PUBLISHED: "Never published",
    OfferStatus.IN_PROGRESS: "Publish in progress",
    OfferStatus.ATTENTION: "Attention needed",
    OfferStatus.PREVIEW: "Preview",
    OfferStatus.LIVE: "Live",
    OfferStatus.CANCELED: "Canceled",
}
STEP_LABELS: dict[str, str] = {
    StepStatus.NOT_STARTED: "Not started",
    StepStatus.IN_PROGRESS: "In progress",
    StepStatus.WAITING: "Waiting for publisher review",
    StepStatus.BLOCKED: "Blocked",
    StepStatus.COMPLETE: "Complete",
    StepStatus.CANCELED: "Canceled",
}
STAGE_NAMES: dict[str, str] = {stage.value: info.name for stage, info in INFO.items()}
DONE: dict[WebAction, str] = {
    WebAction.PUBLISH: "Publish request {number} started.",
    WebAction.GO_LIVE: "Going live: the Live stage started.",
    WebAction.CANCEL: "The publish request was canceled; every stage is back to not started.",
}

Handler = Callable[[Request], Awaitable[Response]]


def signin_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)


def cross_site(request: Request) -> bool:
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin is not None and origin != own


async def checked_form(ctx: WebContext, request: Request, session: Session) -> FormData | None:
    """The POSTed form if it carries the session's CSRF token and is not cross-site."""
    if cross_site(request):
        return None
    form = await request.form()
    token = form.get("csrf_token")
    if not same_token(session.csrf, token if isinstance(token, str) else None):
        return None
    return form


async def signed_in_form(ctx: WebContext, request: Request) -> tuple[Session, FormData] | Response:
    """The session and its CSRF-checked form for a POST from a signed-in page; otherwise the
    response to send instead (to sign-in, or 403)."""
    session = ctx.session(request)
    if session is None:
        return signin_redirect(request)
    form = await checked_form(ctx, request, session)
    if form is None:
        return forbidden(ctx, request)
    return session, form


def forbidden(ctx: WebContext, request: Request) -> Response:
    return ctx.render(
        "error.html",
        request,
        403,
        title="Forbidden",
        message="The form was stale or not sent from this console: reload the page and try again.",
    )


def page_routes(ctx: WebContext) -> list[Route]:
    """The console's routes over ``ctx``."""

    # -- sessions ---------------------------------------------------------------------------

    async def signin_page(request: Request) -> Response:
        if ctx.session(request) is not None:
            return RedirectResponse("/offers", status_code=303)
        return _signin_form(request, "", "")

    def _signin_form(request: Request, error: str, username: str, status: int = 200) -> Response:
        csrf = request.cookies.get(SIGNIN_COOKIE) or _new_token()
        response = ctx.render(
            "signin.html",
            request,
            status,
            csrf=csrf,
            next=_local_path(request.query_params.get("next", "/offers")),
            error=error,
            username=username,
        )
        _set_cookie(response, SIGNIN_COOKIE, csrf, ctx.config.secure_cookies, 600)
        return response

    async def signin(request: Request) -> Response:
        client = request.client.host if request.client else "unknown"
        wait = ctx.signin_limiter.retry_after(client)
        if wait is not None:
            response = _signin_form(request, "Too many sign-in attempts; wait a minute.", "", 429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        form = await request.form()
        token = form.get("csrf_token")
        if cross_site(request) or not same_token(
            request.cookies.get(SIGNIN_COOKIE, ""), token if isinstance(token, str) else None
        ):
            return forbidden(ctx, request)
        username = _text(form, "username")[:200]
        password = _text(form, "password")
        user = await run_in_threadpool(_authenticate, ctx, username, password)
        if user is None:
            return _signin_form(request, "Wrong user name or password.", username, 401)
        key, _session = ctx.sessions.create(user)
        response = RedirectResponse(_local_path(_text(form, "next") or "/offers"), 303)
        _set_cookie(
            response,
            SESSION_COOKIE,
            key,
            ctx.config.secure_cookies,
            int(ctx.config.session_seconds),
        )
        response.delete_cookie(SIGNIN_COOKIE, path="/")
        return response

    async def signout(request: Request) -> Response:
        session = ctx.session(request)
        if session is None:
            return RedirectResponse("/signin", status_code=303)
        if await checked_form(ctx, request, session) is None:
            return forbidden(ctx, request)
        ctx.sessions.end(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- pages ------------------------------------------------------------------------------

    async def home(request: Request) -> Response:
        return RedirectResponse("/offers", status_code=303)

    async def offers_page(request: Request) -> Response:
        if ctx.session(request) is None:
            return signin_redirect(request)
        q = request.query_params.get("q", "").strip()
        status = request.query_params.get("status", "")
        size = max(1, ctx.config.page_size)
        try:
            wanted = int(request.query_params.get("page", "1"))
        except ValueError:
            wanted = 1
        shown: list[OfferSummary] = []
        total, number = 0, 1
        if not status or status in OFFER_LABELS:
            # Filtered, ordered (newest change first) and paged by the database.
            shown, total, number = await run_in_threadpool(
                lambda: ctx.store.offers_page(
                    query=q,
                    status=OfferStatus(status) if status else None,
                    page=wanted,
                    size=size,
                )
            )
        pages = max(1, -(-total // size))
        return ctx.render(
            "offers.html",
            request,
            offers=shown,
            total=total,
            page=number,
            pages=pages,
            q=q,
            status=status,
            statuses=list(OFFER_LABELS.items()),
            labels=OFFER_LABELS,
            stage_names=STAGE_NAMES,
        )

    def unknown(request: Request, offer_id: str) -> Response:
        return ctx.render(
            "error.html",
            request,
            404,
            title="Unknown offer",
            message=f"No offer with the id {offer_id} was ever published here.",
        )

    async def status_page(request: Request) -> Response:
        if ctx.session(request) is None:
            return signin_redirect(request)
        offer_id = request.path_params["offer_id"]
        try:
            offer, latest = await run_in_threadpool(_offer_and_request, ctx, offer_id)
        except UnknownOffer:
            return unknown(request, offer_id)
        status = offer_status(latest.status, latest.stage) if latest else offer.status
        return ctx.render(
            "status.html",
            request,
            offer=offer,
            current=latest,
            offer_status=status.value,
            labels=OFFER_LABELS,
            step_labels=STEP_LABELS,
            actions=[a.value for a in allowed(latest, ctx.settings.cancel_window)],
            preview_link=f"/catalog/{quote(offer_id)}" if product_page(latest) else "",
        )

    async def status_json(request: Request) -> Response:
        if ctx.session(request) is None:
            return JSONResponse({"error": "sign in"}, status_code=401, headers=SECURITY_HEADERS)
        offer_id = request.path_params["offer_id"]
        try:
            offer, latest = await run_in_threadpool(_offer_and_request, ctx, offer_id)
        except UnknownOffer:
            return JSONResponse({"error": "unknown offer"}, 404, headers=SECURITY_HEADERS)
        return JSONResponse(_poll_document(ctx, offer, latest), headers=SECURITY_HEADERS)

    async def history_page(request: Request) -> Response:
        if ctx.session(request) is None:
            return signin_redirect(request)
        offer_id = request.path_params["offer_id"]
        try:
            offer = await run_in_threadpool(ctx.store.offer, offer_id)
            events = await run_in_threadpool(ctx.store.history, offer_id)
        except UnknownOffer:
            return unknown(request, offer_id)
        params = request.query_params
        what, who = params.get("what", ""), params.get("who", "").strip()
        since, until = _date(params.get("since", "")), _date(params.get("until", ""))
        shown = [
            e
            for e in events
            if (not what or e.what.value == what)
            and (not who or who.lower() in e.who.lower())
            and (since is None or e.when.date() >= since)
            and (until is None or e.when.date() <= until)
        ]
        shown.reverse()  # newest first, as Partner Center lists them
        return ctx.render(
            "history.html",
            request,
            offer=offer,
            events=shown,
            whats=[w.value for w in What],
            what=what,
            who=who,
            since=params.get("since", "") if since else "",
            until=params.get("until", "") if until else "",
            stage_names=STAGE_NAMES,
        )

    # -- actions ----------------------------------------------------------------------------

    def action(kind: WebAction) -> Handler:
        async def handle(request: Request) -> Response:
            posted = await signed_in_form(ctx, request)
            if isinstance(posted, Response):
                return posted
            session, form = posted
            offer_id = request.path_params["offer_id"]
            target = f"/offers/{quote(offer_id)}"
            try:
                notice = await run_in_threadpool(_perform, ctx, kind, offer_id, session.user, form)
            except UnknownOffer:
                return unknown(request, offer_id)
            except VmcertError as exc:
                session.flash.append(("error", ctx.settings.masker.mask(str(exc))))
            else:
                session.flash.append(("info", notice))
            return RedirectResponse(target, status_code=303)

        return handle

    return [
        Route("/", home),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/offers", offers_page),
        Route("/offers/{offer_id}", status_page),
        Route("/offers/{offer_id}/status.json", status_json),
        Route("/offers/{offer_id}/history", history_page),
        *(
            Route(f"/offers/{{offer_id}}/{kind.value}", action(kind), methods=["POST"])
            for kind in WebAction
        ),
    ]


def _perform(ctx: WebContext, kind: WebAction, offer_id: str, actor: str, form: FormData) -> str:
    publisher = ctx.publisher
    if kind is WebAction.PUBLISH:
        emails = [e.strip() for e in _text(form, "emails").split(",") if e.strip()]
        for email in emails:
            if not EMAIL_RE.match(email):
                raise _BadInput(f"{email!r} is not an e-mail address")
        request = publisher.publish(offer_id, actor=actor, emails=emails)
        return DONE[kind].format(number=request.number)
    if kind is WebAction.GO_LIVE:
        publisher.go_live(offer_id, actor=actor)
        return DONE[kind]
    if kind is WebAction.CANCEL:
        publisher.cancel(offer_id, actor=actor)
        return DONE[kind]
    if kind is WebAction.EMAILS:
        emails = [e.strip() for e in _text(form, "emails").split(",") if e.strip()]
        for email in emails:
            if not EMAIL_RE.match(email):
                raise _BadInput(f"{email!r} is not an e-mail address")
        if not emails:
            raise _BadInput("give at least one notification e-mail address")
        ctx.store.provide_emails(offer_id, emails, actor=actor)
        return "Notification e-mail set; Validate prerequisites completes."
    number, _bundle = publisher.support(
        offer_id, actor=actor, message=_text(form, "message")[:4000]
    )
    return f"Support request {number} opened; the support bundle was written and e-mailed."


class _BadInput(VmcertError):
    """A form field the console cannot use."""


def _authenticate(ctx: WebContext, username: str, password: str) -> str | None:
    stored = ctx.config.accounts.get(username)
    if stored is not None and verify_password(password, stored):
        return username
    # A valid API token signs in too (its configured name, or the user name given).
    name = token_name(ctx.config.api_tokens, f"Bearer {password}") if password else None
    if name is not None:
        return username or name
    return None


def _offer_and_request(ctx: WebContext, offer_id: str) -> tuple[OfferSummary, RequestView | None]:
    return ctx.store.offer(offer_id), ctx.store.request(offer_id)


def _poll_document(
    ctx: WebContext, offer: OfferSummary, request: RequestView | None
) -> dict[str, object]:
    mask = ctx.settings.masker.mask
    status = offer_status(request.status, request.stage) if request else offer.status
    steps: list[dict[str, object]] = []
    for view in request.stages if request else ():
        number = request.number if request else 0
        steps.append(
            {
                "id": view.info.step_id,
                "status": view.status.value,
                "statusLabel": STEP_LABELS[view.status.value],
                "startedAt": stamp(view.started_at),
                "finishedAt": stamp(view.finished_at),
                "progress": 100 if view.status is StepStatus.COMPLETE else view.progress,
                "messages": [{"level": m.level, "text": mask(m.text)} for m in view.messages],
                "files": [
                    {
                        "href": f"/offers/{quote(offer.offer_id)}/requests/{number}/"
                        f"{view.info.step_id}/{index}",
                        "label": f"{a.kind}: {a.path.rsplit('/', 1)[-1]}",
                    }
                    for index, a in enumerate(view.artifacts)
                ],
            }
        )
    return {
        "offerId": offer.offer_id,
        "request": str(request.number) if request else "",
        "offerStatus": status.value,
        "offerStatusLabel": OFFER_LABELS[status.value],
        "polling": bool(request and request.status.active),
        "actions": [a.value for a in allowed(request, ctx.settings.cancel_window)],
        "error": mask(request.error) if request and request.error else "",
        "steps": steps,
    }


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _date(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None


def _local_path(target: str) -> str:
    """Only a path on this site (no scheme, no ``//host``) may be a redirect target."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/offers"
    return target


def _new_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def _set_cookie(response: Response, name: str, value: str, secure: bool, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict"
    )
