"""New offer: a form whose fields fill ``vmcert offer init``'s template, checked with Validate
prerequisites' own rules (:func:`harness.publish.offer.parse_offer`) before anything is written.

A field the rules refuse is shown next to that field (422) and nothing is written. An accepted
form becomes ``<data dir>/offers/<id>/offer.toml`` (with the template's logo), written
atomically, and a never-published offer in the store; the browser goes on to its editor.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from harness.publish.errors import PublishRefused, UnknownOffer
from harness.publish.offer import EMAIL_RE, ID_RE, parse_offer
from harness.publish.template import OFFER_FILE, TEMPLATE, write_template
from harness.web.context import WebContext
from harness.web.pages import signed_in_form, signin_redirect


@dataclass(frozen=True)
class FormField:
    name: str
    """The form input's name."""
    label: str
    toml: str
    """The offer file's field it fills (problems on it are shown at this input)."""
    template: str
    """The template's line the value replaces (``{}`` stands for the TOML string)."""
    hint: str
    required: bool = True


FIELDS = (
    FormField(
        "offer_id",
        "Offer ID",
        "offer.id",
        'id = "contoso-vm"',
        "Lowercase letters, digits and dashes; at most 50. It cannot be changed later.",
    ),
    FormField(
        "publisher",
        "Publisher ID",
        "offer.publisher",
        'publisher = "contoso"',
        "Your publisher id: lowercase letters, digits and dashes.",
    ),
    FormField(
        "name", "Offer name", "offer.name", 'name = "Contoso Hardened Linux"', "At most 200."
    ),
    FormField(
        "summary",
        "Search results summary",
        "listing.summary",
        'summary = "A hardened Debian image for web workloads."',
        "At most 100 characters.",
    ),
    FormField(
        "email",
        "Notification e-mail",
        "notifications.emails",
        'emails = ["publishing@contoso.example"]',
        "Where publishing status e-mails go (optional; asked for when you publish otherwise).",
        required=False,
    ),
)


@dataclass(frozen=True)
class Draft:
    values: dict[str, str]
    errors: dict[str, list[str]]
    text: str


def offer_text(values: dict[str, str]) -> str:
    """The template with the form's values; each is a TOML basic string (JSON's escapes are
    TOML's for the characters the rules allow), so no value can add a key or a table."""
    text = TEMPLATE
    for field in FIELDS:
        value = values.get(field.name, "")
        key = field.template.split(" = ", 1)[0]
        if field.name == "email":
            literal = f"[{json.dumps(value, ensure_ascii=False)}]" if value else "[]"
        else:
            literal = json.dumps(value, ensure_ascii=False)
        assert text.count(field.template) == 1, field.template
        text = text.replace(field.template, f"{key} = {literal}", 1)
    return text


def check(ctx: WebContext, form: FormData) -> Draft:
    """The form's values, the problems of each field, and the offer file they make."""
    values = {f.name: _text(form, f.name).strip() for f in FIELDS}
    errors: dict[str, list[str]] = {}
    for field in FIELDS:
        if field.required and not values[field.name]:
            errors.setdefault(field.name, []).append(f"{field.label} is required.")
    email = values["email"]
    if email and not EMAIL_RE.match(email):
        errors.setdefault("email", []).append(f"{email!r} is not an e-mail address.")
    offer_id = values["offer_id"]
    if offer_id and not ID_RE.match(offer_id):
        errors.setdefault("offer_id", []).append(
            "Use lowercase letters, digits and dashes (at most 50, no dash at either end)."
        )
    text = offer_text(values)
    by_toml = {f.toml: f.name for f in FIELDS}
    # The logo is the template's own and written with the file: checked against a copy of it.
    with tempfile.TemporaryDirectory(prefix="vmcert-new-offer-") as scratch:
        write_template(Path(scratch))
        result = parse_offer(text, base_dir=Path(scratch))
    for problem in result.problems:
        name = by_toml.get(problem.field.split("[", 1)[0])
        if name is not None and not errors.get(name):
            errors.setdefault(name, []).append(problem.message)
        elif name is None:
            errors.setdefault("", []).append(f"{problem.field}: {problem.message}")
    if offer_id and "offer_id" not in errors:
        try:
            ctx.store.offer(offer_id)
        except UnknownOffer:
            pass
        else:
            errors["offer_id"] = [f"An offer with the id {offer_id} already exists."]
    return Draft(values, errors, text)


def create(ctx: WebContext, draft: Draft, actor: str) -> Path:
    """Write the offer file (atomically, with the template's logo) and record the offer (its
    history starts with *Created offer* by ``actor``)."""
    offer_id = draft.values["offer_id"]
    directory = ctx.settings.data_dir / "offers" / offer_id
    if (directory / OFFER_FILE).exists():
        raise PublishRefused(f"{directory / OFFER_FILE}: already exists; choose another offer ID")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{offer_id}-"))
    try:
        write_template(staging)
        handle, temporary = tempfile.mkstemp(dir=staging, prefix=".offer-", suffix=".toml")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(draft.text)
        os.replace(temporary, staging / OFFER_FILE)
        os.rename(staging, directory)  # fails if the directory appeared meanwhile
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise PublishRefused(
            f"{directory}: exists or cannot be written; choose another offer ID"
        ) from None
    path = directory / OFFER_FILE
    result = parse_offer(draft.text, base_dir=directory, source=path)
    try:
        ctx.store.create_offer(result.offer, actor=actor)
    except PublishRefused:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return path


def create_routes(ctx: WebContext) -> list[Route]:
    """``/offers/new`` (listed before ``/offers/{offer_id}``, which would match it)."""

    def form_page(request: Request, draft: Draft | None, status: int = 200) -> Response:
        return ctx.render(
            "new_offer.html",
            request,
            status,
            fields=FIELDS,
            values=draft.values if draft else {},
            errors=draft.errors if draft else {},
        )

    async def new_page(request: Request) -> Response:
        if ctx.session(request) is None:
            return signin_redirect(request)
        return form_page(request, None)

    async def new_offer(request: Request) -> Response:
        posted = await signed_in_form(ctx, request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        draft = await run_in_threadpool(check, ctx, form)
        if draft.errors:
            return form_page(request, draft, 422)
        try:
            await run_in_threadpool(create, ctx, draft, session.user)
        except PublishRefused as exc:
            errors = {"offer_id": [ctx.settings.masker.mask(str(exc))]}
            return form_page(request, Draft(draft.values, errors, draft.text), 409)
        offer_id = draft.values["offer_id"]
        session.flash.append(
            (
                "info",
                f"Offer {offer_id} created (never published). Complete its file here, "
                "then Publish from its Status page.",
            )
        )
        return RedirectResponse(f"/offers/{offer_id}/edit", status_code=303)

    return [
        Route("/offers/new", new_page, methods=["GET"]),
        Route("/offers/new", new_offer, methods=["POST"]),
    ]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:1000] if isinstance(value, str) else ""
