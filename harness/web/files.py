"""Stage artifacts (certification reports, serial and provisioning logs, the product page) and
the catalog: the public listing of live offers, and offers in preview for the subscriptions on
their preview list, each with its product page.

Only files under the pipeline's data directory are served. Text is masked before it is sent;
HTML (reports, product pages) is sent with a ``sandbox`` CSP, so a script in it never runs with
the console's origin.
"""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.publish.errors import UnknownOffer
from harness.publish.model import INFO, Stage
from harness.publish.views import ArtifactView, RequestView
from harness.web.context import SECURITY_HEADERS, WebContext

MAX_SERVED = 32 * 1024 * 1024
SANDBOXED = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'none'"
    ),
}
_TEXT = {".log", ".txt", ".json", ".xml", ".toml", ".out", ".csv"}
_STEPS: dict[str, Stage] = {info.step_id: stage for stage, info in INFO.items()}


def served_file(ctx: WebContext, artifact: ArtifactView) -> Response | None:
    """The artifact's file as a response, or ``None`` when it may not or cannot be served."""
    root = ctx.settings.data_dir.resolve()
    try:
        path = Path(artifact.path).resolve(strict=True)
    except OSError:
        return None
    if not path.is_relative_to(root) or not path.is_file() or path.stat().st_size > MAX_SERVED:
        return None
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        text = ctx.settings.masker.mask(data.decode("utf-8", errors="replace"))
        return Response(text, media_type="text/html; charset=utf-8", headers=SANDBOXED)
    if suffix in _TEXT or suffix == "" or _is_text(data):
        text = ctx.settings.masker.mask(data.decode("utf-8", errors="replace"))
        return Response(text, media_type="text/plain; charset=utf-8", headers=SANDBOXED)
    return None  # binary artifacts (disk images) are not for the browser


def _is_text(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in data[:4096]


def product_page(request: RequestView | None) -> ArtifactView | None:
    if request is None:
        return None
    packaging = request.stage_view(Stage.PACKAGING)
    return next((a for a in packaging.artifacts if a.kind == "product_page"), None)


def file_routes(ctx: WebContext) -> list[Route]:
    def not_found(request: Request) -> Response:
        return ctx.render(
            "error.html", request, 404, title="Not found", message="There is no such file."
        )

    async def artifact(request: Request) -> Response:
        if ctx.session(request) is None:
            return Response(status_code=303, headers={"Location": "/signin"})
        offer_id = request.path_params["offer_id"]
        stage = _STEPS.get(request.path_params["step"])
        number, index = request.path_params["number"], request.path_params["index"]
        try:
            view = await run_in_threadpool(ctx.store.request, offer_id, number)
        except UnknownOffer:
            return not_found(request)
        if view is None or stage is None:
            return not_found(request)
        artifacts = view.stage_view(stage).artifacts
        if not 0 <= index < len(artifacts):
            return not_found(request)
        answer = await run_in_threadpool(served_file, ctx, artifacts[index])
        return answer or not_found(request)

    async def catalog(request: Request) -> Response:
        subscription = request.query_params.get("subscription", "").strip()
        offers = await run_in_threadpool(ctx.store.catalog, subscription or None)
        return ctx.render(
            "catalog.html",
            request,
            offers=sorted(offers, key=lambda o: o.name.lower()),
            subscription=subscription,
        )

    async def listing(request: Request) -> Response:
        offer_id = request.path_params["offer_id"]
        subscription = request.query_params.get("subscription", "").strip()
        visible = await run_in_threadpool(ctx.store.catalog, subscription or None)
        signed_in = ctx.session(request) is not None
        if not signed_in and offer_id not in {o.offer_id for o in visible}:
            return not_found(request)  # not listed, or not in this subscription's preview
        try:
            latest = await run_in_threadpool(ctx.store.request, offer_id)
        except UnknownOffer:
            return not_found(request)
        page = product_page(latest)
        answer = None if page is None else await run_in_threadpool(served_file, ctx, page)
        return answer or not_found(request)

    return [
        Route("/offers/{offer_id}/requests/{number:int}/{step}/{index:int}", artifact),
        Route("/catalog", catalog),
        Route("/catalog/{offer_id}", listing),
    ]
