"""The offer editor: the offer file's fields, each with the problems Validate prerequisites
finds in it (the same rules, :func:`harness.publish.offer.parse_offer`), and the file's text to
edit and save back where the offer was published from.

A file with an inline secret is shown masked and cannot be saved from the browser (saving the
masked text would destroy the secret); move the secret to an environment variable (``*_env``).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from harness.errors import VmcertError
from harness.publish.errors import OfferFileError, UnknownOffer
from harness.publish.offer import FieldProblem, parse_offer, read_offer_text
from harness.web.context import WebContext
from harness.web.pages import signed_in_form, signin_redirect

TomlValue = str | int | float | bool | list["TomlValue"] | dict[str, "TomlValue"] | object


@dataclass(frozen=True)
class FieldRow:
    field: str
    value: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class EditorView:
    path: str
    text: str
    editable: bool
    rows: tuple[FieldRow, ...]
    other: tuple[FieldProblem, ...]
    """Problems of fields the file does not have (a required field left out)."""
    error: str = ""


def flatten(value: TomlValue, prefix: str = "") -> list[tuple[str, str]]:
    """``[("offer.id", "contoso-vm"), ("plans[0].generation", "1"), ...]`` in file order."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return [row for i, item in enumerate(value) for row in flatten(item, f"{prefix}[{i}]")]
    if isinstance(value, list):
        return [(prefix, ", ".join(str(item) for item in value))]
    return [(prefix, str(value))]


def editor_view(ctx: WebContext, offer_id: str) -> EditorView:
    stored_text, source = ctx.store.offer_text(offer_id)
    mask = ctx.settings.masker.mask
    if not source:
        return EditorView("", mask(stored_text), False, (), (), "the offer file is not known")
    path = Path(source)
    try:
        text = read_offer_text(path)
        check = parse_offer(text, base_dir=path.parent, source=path)
        for secret in check.offer.secrets():
            ctx.settings.masker.add(secret)
        data: dict[str, TomlValue] = tomllib.loads(text)
    except OfferFileError as exc:
        return EditorView(source, mask(stored_text), False, (), (), mask(str(exc)))
    fields = flatten(data)
    known = {name for name, _ in fields}
    by_field: dict[str, list[str]] = {}
    other: list[FieldProblem] = []
    for problem in check.problems:
        if problem.field in known:
            by_field.setdefault(problem.field, []).append(problem.message)
        else:
            other.append(problem)
    rows = tuple(
        FieldRow(name, mask(value), tuple(mask(m) for m in by_field.get(name, ())))
        for name, value in fields
    )
    shown = mask(text)
    return EditorView(source, shown, shown == text, rows, tuple(other))


def save(ctx: WebContext, offer_id: str, text: str) -> str:
    """Write ``text`` over the offer's file when it is TOML for the same offer id; returns a
    notice naming how many problems Validate prerequisites would report."""
    _stored, source = ctx.store.offer_text(offer_id)
    if not source:
        raise OfferFileError(f"offer {offer_id}: the offer file is not known")
    path = Path(source)
    current = read_offer_text(path)
    if ctx.settings.masker.mask(current) != current:
        raise OfferFileError(
            f"{path}: holds an inline secret; edit it on disk, or move the secret to an "
            "environment variable (*_env) to edit it here"
        )
    text = text.replace("\r\n", "\n")
    check = parse_offer(text, base_dir=path.parent, source=path)
    if check.offer.id != offer_id:
        raise OfferFileError(
            f"offer.id must stay {offer_id!r} (got {check.offer.id!r}); a new id is a new offer"
        )
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".offer-", suffix=".toml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    count = len(check.problems)
    if count == 0:
        return "Saved. Validate prerequisites finds no problem: publish when ready."
    return f"Saved. Validate prerequisites would report {count} problem(s); see them below."


def editor_routes(ctx: WebContext) -> list[Route]:
    async def edit_page(request: Request) -> Response:
        if ctx.session(request) is None:
            return signin_redirect(request)
        offer_id = request.path_params["offer_id"]
        try:
            offer = await run_in_threadpool(ctx.store.offer, offer_id)
            view = await run_in_threadpool(editor_view, ctx, offer_id)
        except UnknownOffer:
            return ctx.render(
                "error.html", request, 404, title="Unknown offer", message="No such offer."
            )
        return ctx.render("editor.html", request, offer=offer, editor=view)

    async def edit(request: Request) -> Response:
        posted = await signed_in_form(ctx, request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        offer_id = request.path_params["offer_id"]
        text = form.get("text")
        try:
            if not isinstance(text, str):
                raise OfferFileError("no offer text was sent")
            notice = await run_in_threadpool(save, ctx, offer_id, text)
        except UnknownOffer:
            return ctx.render(
                "error.html", request, 404, title="Unknown offer", message="No such offer."
            )
        except VmcertError as exc:
            session.flash.append(("error", ctx.settings.masker.mask(str(exc))))
        else:
            session.flash.append(("info", notice))
        return RedirectResponse(f"/offers/{offer_id}/edit", status_code=303)

    return [
        Route("/offers/{offer_id}/edit", edit_page, methods=["GET"]),
        Route("/offers/{offer_id}/edit", edit, methods=["POST"]),
    ]
