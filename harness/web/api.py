"""The JSON API in the Cloud Partner Portal's shapes (``api-version=2017-10-31``).

``GET /api/offers/{id}/status`` is CPP's status resource (:mod:`harness.publish.status`);
``POST .../publish``, ``.../golive`` and ``.../cancel`` answer with an ``Operation-Location``
(``/api/operations/{offer}${request}${kind}``) to poll, 202 while the pipeline works (Cancel is
synchronous: 200). Every call but the OpenAPI document needs ``Authorization: Bearer TOKEN``;
each token (and each address sending bad ones) has a rate limit; bodies are size-limited by the
application's middleware.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.publish.errors import OfferFileError, PublishRefused, UnknownOffer
from harness.publish.model import INFO, RequestStatus
from harness.publish.offer import EMAIL_RE
from harness.publish.status import JsonValue, never_published, status_document
from harness.publish.views import RequestView
from harness.web.actions import WebAction, allowed
from harness.web.auth import token_name
from harness.web.context import WebContext
from harness.web.documents import catalog_document, event_document, mail_document
from harness.web.openapi import openapi_document
from harness.web.selftest import SelftestBadRequest, SelftestUnreachable, parse_request

API_VERSION = "2017-10-31"
POLL_SECONDS = 5

ApiHandler = Callable[[Request, str], Awaitable[Response]]
"""An API endpoint after authentication: the request and the caller's name."""


class ApiError(Exception):
    """An error answer: ``{"error": {"code", "message"}}`` with its HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def api_routes(ctx: WebContext) -> list[Route]:
    """The API's routes over ``ctx``."""

    def guarded(handler: ApiHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            version = request.query_params.get("api-version")
            if version is not None and version != API_VERSION:
                return error_response(
                    400,
                    "InvalidAPIVersion",
                    f"Invalid api version. Allowed values are [{API_VERSION}]",
                )
            caller = token_name(ctx.config.api_tokens, request.headers.get("authorization"))
            client = request.client.host if request.client else "unknown"
            wait = ctx.api_limiter.retry_after(f"token:{caller}" if caller else f"address:{client}")
            if wait is not None:
                return error_response(
                    429,
                    "TooManyRequests",
                    "rate limit exceeded; retry later",
                    **{"Retry-After": str(int(wait) + 1)},
                )
            if caller is None:
                return error_response(
                    401,
                    "Unauthorized",
                    "a valid bearer token is required (Authorization: Bearer TOKEN)",
                    **{"WWW-Authenticate": 'Bearer realm="vmcert"'},
                )
            try:
                return await handler(request, caller)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message)
            except UnknownOffer as exc:
                return error_response(404, "NotFound", str(exc))
            except PublishRefused as exc:
                return error_response(409, "Conflict", ctx.settings.masker.mask(str(exc)))
            except OfferFileError as exc:
                return error_response(422, "ValidationFailed", ctx.settings.masker.mask(str(exc)))

        return endpoint

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def list_offers(request: Request, caller: str) -> Response:
        offers = await run_in_threadpool(ctx.store.offers)
        value: list[JsonValue] = [
            {
                "id": o.offer_id,
                "name": o.name,
                "publisherId": o.publisher,
                "offerTypeId": "microsoft-azure-virtualmachines",
                "offerStatus": o.status.value,
                "currentStep": None if o.stage is None else INFO[o.stage].step_id,
                "estimatedTimeFrame": o.estimate,
                "requestNumber": o.request,
                "lastModified": _stamp(o.updated_at),
            }
            for o in sorted(offers, key=lambda o: o.offer_id)
        ]
        return JSONResponse({"value": value})

    async def offer_status(request: Request, caller: str) -> Response:
        offer_id = request.path_params["offer_id"]
        latest = await run_in_threadpool(ctx.store.request, offer_id)
        body = never_published(offer_id) if latest is None else status_document(latest)
        return JSONResponse(_masked(ctx, body))

    async def publish(request: Request, caller: str) -> Response:
        offer_id = request.path_params["offer_id"]
        body = await _body(request)
        emails = _emails(body)
        raw_file = body.get("offerFile")
        if raw_file is not None and (not isinstance(raw_file, str) or not raw_file):
            raise ApiError(400, "BadRequest", "offerFile must be a path (a non-empty string)")
        offer_file = Path(raw_file) if raw_file else None
        view = await run_in_threadpool(
            lambda: ctx.publisher.publish(
                offer_id, actor=caller, emails=emails, offer_file=offer_file
            )
        )
        return _operation_response(ctx, view, WebAction.PUBLISH, 202)

    async def go_live(request: Request, caller: str) -> Response:
        offer_id = request.path_params["offer_id"]
        view = await run_in_threadpool(lambda: ctx.publisher.go_live(offer_id, actor=caller))
        return _operation_response(ctx, view, WebAction.GO_LIVE, 202)

    async def cancel(request: Request, caller: str) -> Response:
        offer_id = request.path_params["offer_id"]
        await _body(request)  # CPP's body names e-mails; the request's own are used
        view = await run_in_threadpool(lambda: ctx.publisher.cancel(offer_id, actor=caller))
        return _operation_response(ctx, view, WebAction.CANCEL, 200)

    async def operation(request: Request, caller: str) -> Response:
        operation_id = request.path_params["operation_id"]
        try:
            offer_id, number_text, kind_text = operation_id.split("$")
            number, kind = int(number_text), WebAction(kind_text)
        except ValueError:
            raise ApiError(404, "NotFound", f"no operation {operation_id!r}") from None
        if kind is WebAction.SUPPORT:
            raise ApiError(404, "NotFound", f"no operation {operation_id!r}")
        view = await run_in_threadpool(ctx.store.request, offer_id, number)
        if view is None:
            raise ApiError(404, "NotFound", f"no operation {operation_id!r}")
        body = operation_document(ctx, view, kind)
        headers = {"Retry-After": str(POLL_SECONDS)} if view.status.active else {}
        return JSONResponse(body, headers=headers)

    async def history(request: Request, caller: str) -> Response:
        offer_id = request.path_params["offer_id"]
        events = await run_in_threadpool(ctx.store.history, offer_id)
        return JSONResponse(_masked(ctx, {"value": [event_document(e) for e in events]}))

    async def catalog(request: Request, caller: str) -> Response:
        subscription = request.query_params.get("subscription") or None
        offers = await run_in_threadpool(ctx.store.catalog, subscription)
        return JSONResponse(_masked(ctx, {"value": [catalog_document(o) for o in offers]}))

    async def outbox(request: Request, caller: str) -> Response:
        mails = await run_in_threadpool(ctx.store.mails)
        directory = None if ctx.settings.smtp is not None else str(ctx.settings.outbox)
        body: dict[str, JsonValue] = {
            "value": [mail_document(m) for m in mails],
            "outboxDirectory": directory,
        }
        return JSONResponse(_masked(ctx, body))

    async def support(request: Request, caller: str) -> Response:
        offer_id = request.path_params["offer_id"]
        message = (await _body(request)).get("message", "")
        if not isinstance(message, str):
            raise ApiError(400, "BadRequest", "message must be a string")
        number, bundle = await run_in_threadpool(
            lambda: ctx.publisher.support(offer_id, actor=caller, message=message[:4000])
        )
        body: dict[str, JsonValue] = {
            "supportRequest": number,
            "offerId": offer_id,
            "bundle": str(bundle),
        }
        return JSONResponse(_masked(ctx, body), 201)

    async def selftest(request: Request, caller: str) -> Response:
        try:
            wanted = parse_request(await _body(request))
        except SelftestBadRequest as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None
        try:
            envelope = await run_in_threadpool(ctx.selftest.try_run, wanted)
        except SelftestUnreachable as exc:
            raise ApiError(502, "VmUnreachable", str(exc)) from None
        if envelope is None:
            return error_response(
                429, "Busy", "self-tests are running; retry later", **{"Retry-After": "30"}
            )
        return JSONResponse(envelope)

    return [
        Route("/api/openapi.json", openapi),
        Route("/selftest-vm", guarded(selftest), methods=["POST"]),
        Route("/api/offers", guarded(list_offers)),
        Route("/api/offers/{offer_id}/status", guarded(offer_status)),
        Route("/api/offers/{offer_id}/publish", guarded(publish), methods=["POST"]),
        Route("/api/offers/{offer_id}/golive", guarded(go_live), methods=["POST"]),
        Route("/api/offers/{offer_id}/cancel", guarded(cancel), methods=["POST"]),
        Route("/api/operations/{operation_id}", guarded(operation)),
        Route("/api/offers/{offer_id}/history", guarded(history)),
        Route("/api/offers/{offer_id}/support", guarded(support), methods=["POST"]),
        Route("/api/catalog", guarded(catalog)),
        Route("/api/outbox", guarded(outbox)),
    ]


def operation_id(view: RequestView, kind: WebAction) -> str:
    return f"{view.offer_id}${view.number}${kind.value}"


def operation_document(ctx: WebContext, view: RequestView, kind: WebAction) -> dict[str, JsonValue]:
    """CPP's single-operation resource: the request's status resource plus the operation's id,
    type, times, error and whether it can still be canceled."""
    can_cancel = WebAction.CANCEL in allowed(view, ctx.settings.cancel_window)
    body: dict[str, JsonValue] = {
        "id": operation_id(view, kind),
        "submissionType": kind.value,
        "createdDateTime": _stamp(view.created_at),
        "lastActionDateTime": _stamp(view.updated_at),
        "error": view.error or None,
        "cancellationRequestState": "canCancel" if can_cancel else "cannotCancel",
        **status_document(view),
    }
    return _masked(ctx, body)


def _operation_response(
    ctx: WebContext, view: RequestView, kind: WebAction, status: int
) -> JSONResponse:
    location = f"/api/operations/{operation_id(view, kind)}?api-version={API_VERSION}"
    headers = {"Operation-Location": location}
    if view.status is RequestStatus.RUNNING:
        headers["Retry-After"] = str(POLL_SECONDS)
    return JSONResponse(operation_document(ctx, view, kind), status, headers=headers)


async def _body(request: Request) -> dict[str, JsonValue]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "BadRequest", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body must be a JSON object")
    return body


def _emails(body: dict[str, JsonValue]) -> list[str]:
    """``{"metadata": {"notification-emails": "a@x, b@y"}}``."""
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ApiError(400, "BadRequest", "metadata must be an object")
    raw = metadata.get("notification-emails", "")
    if not isinstance(raw, str):
        raise ApiError(400, "BadRequest", "metadata.notification-emails must be a string")
    emails = [e.strip() for e in raw.split(",") if e.strip()]
    for email in emails:
        if not EMAIL_RE.match(email):
            raise ApiError(
                400, "BadRequest", f"metadata.notification-emails: {email!r} is not an address"
            )
    return emails


def _masked(ctx: WebContext, body: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Every string of ``body`` masked (stage messages are masked when written; this also
    catches a secret learned later)."""
    mask = ctx.settings.masker.mask

    def walk(value: JsonValue) -> JsonValue:
        if isinstance(value, str):
            return mask(value)
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return {key: walk(value) for key, value in body.items()}


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
