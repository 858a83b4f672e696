"""New offer over HTTP (uvicorn on 127.0.0.1, httpx): the form needs a session and its CSRF
token, a refused field is named next to its input and nothing is written, an accepted form
writes a valid offer file under the data directory and a never-published offer that then
publishes from its Status page."""

from __future__ import annotations

import html
import re
import tomllib
from collections.abc import Iterator

import httpx
import pytest

from harness.publish.model import OfferStatus, RequestStatus
from harness.publish.offer import load_offer
from harness.publish.settings import PublishSettings
from harness.publish.store import Store
from tests.test_web_fixtures import (
    TOKEN,
    USER,
    Served,
    csrf_of,
    served,
    sign_in,
    store,
    web_settings,
)

__all__ = ["served", "store", "web_settings"]  # fixtures used by name

GOOD = {
    "offer_id": "fabrikam-web",
    "publisher": "fabrikam",
    "name": 'Fabrikam "Web" <script>alert(1)</script> [beta] = x',
    "summary": "Nginx on Debian 12.",
    "email": "release@fabrikam.example",
}


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, follow_redirects=False, timeout=20) as http:
        yield http


def _signed_in(client: httpx.Client) -> tuple[dict[str, str], str]:
    cookie = {"Cookie": f"vmcert_session={sign_in(client)}"}
    form = client.get("/offers/new", headers=cookie)
    assert form.status_code == 200
    return cookie, csrf_of(form.text)


def _field_error(page: str, name: str) -> str:
    """The error text shown inside the field's own block (empty when none)."""
    block = re.search(rf'data-field="{name}">(.*?)</div>', page, re.S)
    assert block, f"no field {name} in the form"
    error = re.search(r'class="message-error" id="new-[a-z_]+-error">([^<]*)<', block.group(1))
    return html.unescape(error.group(1)) if error else ""


def test_new_offer_needs_a_session_and_the_csrf_token(
    client: httpx.Client, store: Store, web_settings: PublishSettings
) -> None:
    answer = client.get("/offers/new")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
    assert client.post("/offers/new", data=GOOD).status_code == 303  # to sign in, not created
    cookie, csrf = _signed_in(client)
    assert client.post("/offers/new", data=GOOD, headers=cookie).status_code == 403
    foreign = {**cookie, "Origin": "https://evil.example"}
    refused = client.post("/offers/new", data={**GOOD, "csrf_token": csrf}, headers=foreign)
    assert refused.status_code == 403
    assert store.offers() == []
    assert not (web_settings.data_dir / "offers").exists()


def test_bad_fields_are_named_next_to_their_input_and_nothing_is_written(
    client: httpx.Client, store: Store, web_settings: PublishSettings
) -> None:
    cookie, csrf = _signed_in(client)
    bad = {
        "offer_id": "Fabrikam_Web",
        "publisher": "",
        "name": "x" * 201,
        "summary": "line one\nline two",
        "email": "not-an-address",
        "csrf_token": csrf,
    }
    answer = client.post("/offers/new", data=bad, headers=cookie)
    assert answer.status_code == 422
    page = answer.text
    assert "lowercase letters, digits and dashes" in _field_error(page, "offer_id")
    assert _field_error(page, "publisher") == "Publisher ID is required."
    assert "at most 200 characters" in _field_error(page, "name")
    assert _field_error(page, "summary") != ""
    assert "not an e-mail address" in _field_error(page, "email")
    assert 'aria-invalid="true"' in page and 'value="Fabrikam_Web"' in page  # kept to fix
    assert store.offers() == []
    assert not (web_settings.data_dir / "offers").exists()
    # One field wrong: only that one is named.
    one = client.post(
        "/offers/new", data={**GOOD, "summary": "s" * 101, "csrf_token": csrf}, headers=cookie
    )
    assert one.status_code == 422
    assert "at most 100 characters" in _field_error(one.text, "summary")
    assert [n for n in GOOD if _field_error(one.text, n)] == ["summary"]
    assert "&lt;script&gt;" in one.text and "<script>alert" not in one.text


def test_a_created_offer_is_a_valid_file_never_published_and_publishes(
    client: httpx.Client, store: Store, web_settings: PublishSettings
) -> None:
    cookie, csrf = _signed_in(client)
    answer = client.post("/offers/new", data={**GOOD, "csrf_token": csrf}, headers=cookie)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/offers/fabrikam-web/edit"
    path = web_settings.data_dir / "offers" / "fabrikam-web" / "offer.toml"
    check = load_offer(path)
    assert check.problems == ()
    assert (check.offer.id, check.offer.publisher, check.offer.name) == (
        "fabrikam-web",
        "fabrikam",
        GOOD["name"],
    )
    assert check.offer.listing.summary == GOOD["summary"]
    assert check.offer.notification_emails == (GOOD["email"],)
    assert tomllib.loads(path.read_text())["offer"] == {
        "id": "fabrikam-web",
        "publisher": "fabrikam",
        "name": GOOD["name"],
    }  # the name's quotes and brackets stayed inside the string
    summary = store.offer("fabrikam-web")
    assert summary.status is OfferStatus.NEVER_PUBLISHED and summary.request is None

    editor = client.get("/offers/fabrikam-web/edit", headers=cookie)
    assert "Offer fabrikam-web created" in editor.text
    assert "<script>alert" not in editor.text
    offers = client.get("/offers", headers=cookie).text
    assert 'data-offer="fabrikam-web"' in offers and "Never published" in offers

    again = client.post("/offers/new", data={**GOOD, "csrf_token": csrf}, headers=cookie)
    assert again.status_code == 422
    assert "already exists" in _field_error(again.text, "offer_id")

    history = client.get("/offers/fabrikam-web/history", headers=cookie)
    assert history.status_code == 200
    assert [(e.what.value, e.who) for e in store.history("fabrikam-web")] == [
        ("Created offer", USER)
    ]  # by the signed-in publisher; the refused second form recorded nothing
    assert "Created offer" in history.text
    api = client.get(
        "/api/offers/fabrikam-web/status", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert api.status_code == 200 and api.json()["offerStatus"] == "neverPublished"
    status = client.get("/offers/fabrikam-web", headers=cookie)
    assert 'action="/offers/fabrikam-web/publish"' in status.text
    published = client.post(
        "/offers/fabrikam-web/publish", data={"csrf_token": csrf}, headers=cookie
    )
    assert published.status_code == 303
    request = store.request("fabrikam-web")
    assert request is not None and request.number == 1
    assert request.status is RequestStatus.RUNNING and request.emails == (GOOD["email"],)
