"""The console and the API over HTTP against uvicorn on 127.0.0.1: sign-in, sessions, CSRF,
escaping and masking, the pages' filters, the CPP status resource and operations (validated
against the OpenAPI document), bearer tokens, body-size and rate limits, ``vmcert serve``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
from click.testing import CliRunner

from harness.publish.model import RequestStatus, Stage, StepStatus
from harness.publish.outcome import Artifact, Complete, WaitForInput
from harness.publish.settings import PublishSettings
from harness.publish.store import Store
from harness.web.auth import verify_password
from harness.web.cli import serve_command
from harness.web.openapi import openapi_document
from tests.publish_fixtures import free_port
from tests.test_web_fixtures import (
    HOSTILE_NAME,
    PASSWORD,
    TOKEN,
    Served,
    complete,
    cookie_value,
    csrf_of,
    fail,
    make_offer,
    serve,
    served,
    set_cookie,
    sign_in,
    store,
    to_signoff,
    web_config,
    web_settings,
)

__all__ = ["served", "store", "web_settings"]  # fixtures used by name

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, follow_redirects=False, timeout=20) as http:
        yield http


def _schema(name: str) -> dict[str, object]:
    document = openapi_document()
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def _valid(instance: object, name: str) -> None:
    jsonschema.validate(instance, _schema(name), cls=jsonschema.Draft202012Validator)


# -- sign-in and sessions ------------------------------------------------------------------------


def test_pages_need_a_session_and_sign_in_sets_a_secure_http_only_strict_cookie(
    client: httpx.Client,
) -> None:
    for path in ("/offers", "/offers/x", "/offers/x/history"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
    assert client.get("/offers/x/status.json").status_code == 401
    form = client.get("/signin")
    assert form.status_code == 200
    assert "default-src 'none'" in form.headers["content-security-policy"]
    assert form.headers["x-frame-options"] == "DENY"
    signin_cookie = set_cookie(form, "vmcert_signin")
    assert signin_cookie is not None
    wrong = client.post(
        "/signin",
        data={"username": "alice", "password": "nope", "csrf_token": csrf_of(form.text)},
        headers={"Cookie": f"vmcert_signin={cookie_value(signin_cookie)}"},
    )
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    assert set_cookie(wrong, "vmcert_session") is None
    right = client.post(
        "/signin",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "//evil.example/x",
        },
        headers={"Cookie": f"vmcert_signin={cookie_value(signin_cookie)}"},
    )
    assert right.status_code == 303 and right.headers["location"] == "/offers"
    session = set_cookie(right, "vmcert_session")
    assert session is not None
    flags = {part.strip().lower() for part in session.split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags
    page = client.get("/offers", headers={"Cookie": f"vmcert_session={cookie_value(session)}"})
    assert page.status_code == 200 and "Signed in as alice" in page.text


def test_sign_in_without_its_csrf_cookie_is_refused_and_the_token_signs_in(
    client: httpx.Client,
) -> None:
    form = client.get("/signin")
    refused = client.post(
        "/signin",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert refused.status_code == 403
    assert set_cookie(refused, "vmcert_session") is None
    key = sign_in(client, "bob", TOKEN)
    page = client.get("/offers", headers={"Cookie": f"vmcert_session={key}"})
    assert "Signed in as bob" in page.text


def test_sign_in_attempts_are_rate_limited(store: Store, web_settings: PublishSettings) -> None:
    for served_app in serve(store, web_settings, web_config(signin_per_minute=3)):
        with httpx.Client(base_url=served_app.url) as http:
            codes = [
                http.post("/signin", data={"username": "a", "password": "b"}).status_code
                for _ in range(5)
            ]
    assert codes[:3] == [403, 403, 403] and codes[3:] == [429, 429]


# -- CSRF and actions ----------------------------------------------------------------------------


def test_every_action_needs_the_session_csrf_token_and_a_same_site_origin(
    client: httpx.Client, store: Store, tmp_path: Path
) -> None:
    offer = make_offer(tmp_path, "csrf-vm", "CSRF VM")
    to_signoff(store, offer)
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    page = client.get("/offers/csrf-vm", headers=cookie)
    token = csrf_of(page.text)
    for data, headers in (
        ({}, cookie),
        ({"csrf_token": "forged"}, cookie),
        ({"csrf_token": token}, {**cookie, "Origin": "http://evil.example"}),
        ({"csrf_token": token}, {}),
    ):
        answer = client.post("/offers/csrf-vm/golive", data=data, headers=headers)
        assert answer.status_code in (303, 403)
        assert answer.status_code == 403 or answer.headers["location"].startswith("/signin")
    request = store.request("csrf-vm")
    assert request is not None and request.status is RequestStatus.WAITING
    done = client.post("/offers/csrf-vm/golive", data={"csrf_token": token}, headers=cookie)
    assert done.status_code == 303 and done.headers["location"] == "/offers/csrf-vm"
    request = store.request("csrf-vm")
    assert request is not None and request.stage is Stage.LIVE
    assert store.history("csrf-vm")[-2].who == "alice"
    after = client.get("/offers/csrf-vm", headers=cookie).text
    assert "Going live: the Live stage started." in after
    signout = client.post("/signout", data={"csrf_token": token}, headers=cookie)
    assert signout.status_code == 303
    assert client.get("/offers", headers=cookie).status_code == 303


def test_publish_from_the_console_rereads_the_offer_file_and_refusals_are_shown(
    client: httpx.Client, store: Store, tmp_path: Path
) -> None:
    offer = make_offer(tmp_path, "again-vm", "Again VM")
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    fail(store, Stage.VALIDATE, "listing.summary: required")
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    token = csrf_of(client.get("/offers/again-vm", headers=cookie).text)
    bad = client.post(
        "/offers/again-vm/publish",
        data={"csrf_token": token, "emails": "not-an-address"},
        headers=cookie,
    )
    assert bad.status_code == 303
    assert "is not an e-mail address" in client.get("/offers/again-vm", headers=cookie).text
    started = client.post(
        "/offers/again-vm/publish",
        data={"csrf_token": token, "emails": "ops@contoso.example"},
        headers=cookie,
    )
    assert started.status_code == 303
    request = store.request("again-vm")
    assert request is not None and request.number == 2 and request.stage is Stage.VALIDATE
    assert request.emails == ("ops@contoso.example",)
    client.post("/offers/again-vm/cancel", data={"csrf_token": token}, headers=cookie)
    page = client.get("/offers/again-vm", headers=cookie).text
    assert "Cancel is accepted only once the request reaches Publisher signoff" in page
    assert store.request("again-vm") == request  # nothing changed


# -- pages ---------------------------------------------------------------------------------------


def test_all_offers_filters_searches_and_escapes(
    client: httpx.Client, store: Store, tmp_path: Path, web_settings: PublishSettings
) -> None:
    quiet = make_offer(tmp_path, "quiet-vm", "Quiet VM")
    to_signoff(store, quiet)
    hostile = make_offer(tmp_path, "hostile-vm", HOSTILE_NAME)
    store.publish(hostile, actor="alice", emails=["p@contoso.example"])
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    page = client.get("/offers", headers=cookie).text
    assert "<script>alert(1)</script>" not in page
    assert "Contoso &lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    rows = re.findall(r'<tr data-offer="([^"]+)">', page)
    assert sorted(rows) == ["hostile-vm", "quiet-vm"]
    assert "Publish in progress" in page and "Validate Pre-Requisites" in page
    preview = client.get("/offers?status=preview", headers=cookie).text
    assert re.findall(r'<tr data-offer="([^"]+)">', preview) == ["quiet-vm"]
    search = client.get("/offers?q=HOSTILE", headers=cookie).text
    assert re.findall(r'<tr data-offer="([^"]+)">', search) == ["hostile-vm"]


def test_all_offers_is_paged(store: Store, web_settings: PublishSettings, tmp_path: Path) -> None:
    for offer_id in ("one-vm", "two-vm", "three-vm"):
        store.publish(make_offer(tmp_path, offer_id, offer_id), actor="alice")
    for served_app in serve(store, web_settings, web_config(page_size=2)):
        with httpx.Client(base_url=served_app.url) as http:
            cookie = {"Cookie": f"vmcert_session={sign_in(http)}"}
            first = http.get("/offers", headers=cookie).text
            second = http.get("/offers?page=2", headers=cookie).text
            beyond = http.get("/offers?page=99", headers=cookie).text
    rows = [re.findall(r'<tr data-offer="([^"]+)">', page) for page in (first, second)]
    assert len(rows[0]) == 2 and len(rows[1]) == 1
    assert sorted(rows[0] + rows[1]) == ["one-vm", "three-vm", "two-vm"]
    assert "3 offers, page 1 of 2" in first and "Next page" in first
    assert "Previous page" in second and "Next page" not in second
    assert re.findall(r'<tr data-offer="([^"]+)">', beyond) == rows[1]


def test_status_page_messages_are_escaped_and_secrets_masked(
    client: httpx.Client, store: Store, tmp_path: Path, web_settings: PublishSettings
) -> None:
    offer = make_offer(tmp_path, "secret-vm", "Secret VM")
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    complete(store, Stage.VALIDATE)
    secret = "sup3r-s3cret-account-key-value"
    fail(
        store,
        Stage.CERTIFICATION,
        "Certification failed: <img src=x onerror=alert(1)>",
        f"lead destination said AccountKey={secret};",
    )
    web_settings.masker.add(secret)
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    page = client.get("/offers/secret-vm", headers=cookie).text
    assert secret not in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'class="step-status badge badge-blocked">Blocked<' in page
    poll = client.get("/offers/secret-vm/status.json", headers=cookie).json()
    assert poll["offerStatus"] == "attentionNeeded" and not poll["polling"]
    assert poll["actions"] == ["publish", "support"]
    certification = poll["steps"][1]
    assert certification["status"] == "blocked"
    texts = [m["text"] for m in certification["messages"]]
    assert texts[0] == "Certification failed: <img src=x onerror=alert(1)>"  # text, not HTML
    assert secret not in json.dumps(poll)
    api = client.get("/api/offers/secret-vm/status", headers=AUTH)
    assert secret not in api.text and "&lt;img src=x" in api.text


def test_history_filters_by_event_user_and_date(
    client: httpx.Client, store: Store, tmp_path: Path
) -> None:
    offer = make_offer(tmp_path, "hist-vm", "History VM")
    to_signoff(store, offer)
    store.go_live("hist-vm", actor="carol")
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    page = client.get("/offers/hist-vm/history", headers=cookie).text
    assert "Sign-off to go live" in page and "carol" in page and "system" in page
    carol = client.get("/offers/hist-vm/history?who=car", headers=cookie).text
    assert carol.count("<tr class=") == 1 and "Sign-off to go live" in carol
    submitted = client.get(
        "/offers/hist-vm/history", params={"what": "Submitted offer to preview"}, headers=cookie
    ).text
    assert submitted.count("<tr class=") == 1
    future = client.get("/offers/hist-vm/history?since=2999-01-01", headers=cookie).text
    assert "No event matches." in future
    assert client.get("/offers/nope-vm/history", headers=cookie).status_code == 404


# -- the API -------------------------------------------------------------------------------------


def test_api_needs_a_bearer_token_and_the_api_version(client: httpx.Client) -> None:
    missing = client.get("/api/offers")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    _valid(missing.json(), "Error")
    assert client.get("/api/offers", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/offers", headers=AUTH).json() == {"value": []}
    version = client.get("/api/offers?api-version=2099-01-01", headers=AUTH)
    assert version.status_code == 400 and version.json()["error"]["code"] == "InvalidAPIVersion"
    assert client.get("/api/offers?api-version=2017-10-31", headers=AUTH).status_code == 200
    assert client.get("/api/offers/none-vm/status", headers=AUTH).status_code == 404


def test_api_publish_poll_go_live_and_cancel_follow_the_rules(
    client: httpx.Client, store: Store, tmp_path: Path
) -> None:
    offer = make_offer(tmp_path, "api-vm", "API VM")
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    fail(store, Stage.VALIDATE, "listing.summary: required")
    body = {"metadata": {"notification-emails": "a@contoso.example, b@contoso.example"}}
    started = client.post("/api/offers/api-vm/publish", json=body, headers=AUTH)
    assert started.status_code == 202, started.text
    location = started.headers["operation-location"]
    assert location == "/api/operations/api-vm$2$publish?api-version=2017-10-31"
    _valid(started.json(), "Operation")
    again = client.post("/api/offers/api-vm/publish", json=body, headers=AUTH)
    assert again.status_code == 409 and "already running" in again.json()["error"]["message"]
    early = client.post("/api/offers/api-vm/golive", headers=AUTH)
    assert early.status_code == 409 and "only at Publisher signoff" in early.text
    refused = client.post("/api/offers/api-vm/cancel", headers=AUTH)
    assert refused.status_code == 409 and "Cancel is accepted only once" in refused.text
    polled = client.get(location, headers=AUTH)
    assert polled.status_code == 200 and polled.headers["retry-after"] == "5"
    operation = polled.json()
    _valid(operation, "Operation")
    assert operation["status"] == "running" and operation["submissionType"] == "publish"
    assert operation["notificationEmails"] == "a@contoso.example,b@contoso.example"
    assert [s["id"] for s in operation["steps"]][:2] == ["displaydummycertify", "displaycertify"]
    assert operation["steps"][0]["status"] == "inProgress"
    assert operation["cancellationRequestState"] == "cannotCancel"
    for stage in (
        Stage.VALIDATE,
        Stage.CERTIFICATION,
        Stage.PROVISIONING,
        Stage.PACKAGING,
        Stage.PREVIEW,
    ):
        complete(store, stage)
    status = client.get("/api/offers/api-vm/status", headers=AUTH).json()
    _valid(status, "Status")
    assert status["status"] == "waitingForPublisherReview"
    assert status["currentStep"] == "publisher-signoff"
    assert [s["progressPercentage"] for s in status["steps"]][:5] == [100] * 5
    assert client.get(location, headers=AUTH).json()["cancellationRequestState"] == "canCancel"
    canceled = client.post("/api/offers/api-vm/cancel", json={"metadata": {}}, headers=AUTH)
    assert canceled.status_code == 200
    assert canceled.headers["operation-location"].endswith("api-vm$2$cancel?api-version=2017-10-31")
    assert canceled.json()["status"] == "canceled"
    assert store.history("api-vm")[-1].who == "api-client"
    republished = client.post("/api/offers/api-vm/publish", headers=AUTH)
    assert republished.status_code == 202
    for stage in (
        Stage.VALIDATE,
        Stage.CERTIFICATION,
        Stage.PROVISIONING,
        Stage.PACKAGING,
        Stage.PREVIEW,
    ):
        complete(store, stage)
    live = client.post("/api/offers/api-vm/golive", headers=AUTH)
    assert live.status_code == 202
    assert live.headers["operation-location"].startswith("/api/operations/api-vm$3$golive")
    complete(store, Stage.LIVE)
    done = client.get(live.headers["operation-location"], headers=AUTH).json()
    assert done["status"] == "succeeded" and "retry-after" not in done
    listing = client.get("/api/offers", headers=AUTH).json()
    _valid(listing, "OfferList")
    assert listing["value"][0]["offerStatus"] == "live"
    request = store.request("api-vm")
    assert request is not None and request.stage_view(Stage.LIVE).status is StepStatus.COMPLETE


def test_api_rejects_bad_bodies_unknown_operations_and_a_missing_offer_file(
    client: httpx.Client, store: Store, tmp_path: Path
) -> None:
    offer = make_offer(tmp_path, "body-vm", "Body VM")
    store.publish(offer, actor="alice")
    fail(store, Stage.VALIDATE, "x")
    for raw in (
        b"not json",
        b"[1]",
        b'{"metadata": 3}',
        b'{"metadata": {"notification-emails": 1}}',
    ):
        answer = client.post(
            "/api/offers/body-vm/publish",
            content=raw,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert answer.status_code == 400, raw
        _valid(answer.json(), "Error")
    bad_email = {"metadata": {"notification-emails": "x@y.example, <b>"}}
    answer = client.post("/api/offers/body-vm/publish", json=bad_email, headers=AUTH)
    assert answer.status_code == 400 and "is not an address" in answer.text
    for operation in ("nope", "body-vm$9$publish", "body-vm$1$explode", "body-vm$1$support"):
        assert client.get(f"/api/operations/{operation}", headers=AUTH).status_code == 404
    (tmp_path / "body-vm" / "offer.toml").unlink()
    gone = client.post("/api/offers/body-vm/publish", headers=AUTH)
    assert gone.status_code == 422 and "offer.toml" in gone.json()["error"]["message"]


def test_the_openapi_document_describes_exactly_the_api_routes(served: Served) -> None:
    document = httpx.get(f"{served.url}/api/openapi.json").json()
    assert document == openapi_document()
    jsonschema.Draft202012Validator.check_schema(_schema("Operation"))
    from harness.web.api import api_routes
    from harness.web.context import WebContext

    ctx = WebContext.__new__(WebContext)  # routes are only listed, never called
    routes = {
        (route.path.replace("{offer_id}", "{offer_id}"), method.lower())
        for route in api_routes(ctx)
        for method in (route.methods or set())
        if method != "HEAD" and route.path != "/api/openapi.json"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented


# -- limits --------------------------------------------------------------------------------------


def test_bodies_over_the_limit_are_refused_announced_or_streamed(
    store: Store, web_settings: PublishSettings
) -> None:
    for served_app in serve(store, web_settings, web_config(max_body_bytes=1024)):
        with httpx.Client(base_url=served_app.url) as http:
            big = http.post(
                "/api/offers/x/publish", content=b"{" + b" " * 5000 + b"}", headers=AUTH
            )
            assert big.status_code == 413 and big.json()["error"]["code"] == "RequestTooLarge"

            def chunks() -> Iterator[bytes]:
                for _ in range(10):
                    yield b" " * 512

            streamed = http.post("/api/offers/x/publish", content=chunks(), headers=AUTH)
            assert streamed.status_code == 413
            form = http.post("/signin", data={"username": "a" * 4000})
            assert form.status_code == 413
            small = http.post("/api/offers/x/publish", content=b"{}", headers=AUTH)
            assert small.status_code == 404  # within the limit: reaches the API


def test_the_api_is_rate_limited_per_token(store: Store, web_settings: PublishSettings) -> None:
    for served_app in serve(store, web_settings, web_config(rate_per_minute=4)):
        with httpx.Client(base_url=served_app.url) as http:
            codes = [http.get("/api/offers", headers=AUTH).status_code for _ in range(6)]
            limited = http.get("/api/offers", headers=AUTH)
            anonymous = http.get("/api/offers")
    assert codes == [200, 200, 200, 200, 429, 429]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert anonymous.status_code == 401  # another bucket: the address, not the token


# -- vmcert serve --------------------------------------------------------------------------------


def test_serve_hash_password_prints_a_hash_that_verifies() -> None:
    result = CliRunner().invoke(serve_command, ["--hash-password"], input="hunter22\n")
    assert result.exit_code == 0, result.output
    assert verify_password("hunter22", result.output.strip())
    assert not verify_password("hunter23", result.output.strip())


def test_vmcert_serve_serves_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    accounts = tmp_path / "accounts.toml"
    hashed = CliRunner().invoke(serve_command, ["--hash-password"], input="pw-for-serve\n")
    accounts.write_text(f'[accounts]\ndave = "{hashed.output.strip()}"\n')
    env = {
        **os.environ,
        "VMCERT_DATA_DIR": str(tmp_path / "data"),
        "VMCERT_PUBLISH_DB": f"sqlite:///{tmp_path / 'serve.db'}",
        "VMCERT_WEB_TOKEN": TOKEN,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))",
            "serve",
            "--port",
            str(port),
            "--accounts",
            str(accounts),
            "--no-worker",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/offers", headers=AUTH)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json() == {"value": []}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            key = sign_in(http, "dave", "pw-for-serve")
            assert (
                "Signed in as dave"
                in http.get("/offers", headers={"Cookie": f"vmcert_session={key}"}).text
            )
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert TOKEN not in err


# -- files and the catalog -----------------------------------------------------------------------


def _finish_with(store: Store, stage: Stage, *artifacts: Artifact) -> None:
    (run_id,) = store.due_runs()
    claim = store.claim(run_id, "web-test")
    assert claim is not None and claim.stage is stage
    assert store.finish(claim, Complete((f"{stage.value} done",), artifacts))


def test_reports_and_logs_are_served_masked_sandboxed_and_only_from_the_data_dir(
    client: httpx.Client, store: Store, tmp_path: Path, web_settings: PublishSettings
) -> None:
    offer = make_offer(tmp_path, "files-vm", "Files VM")
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    complete(store, Stage.VALIDATE)
    secret = "another-s3cret-value-xyz"
    web_settings.masker.add(secret)
    reports = web_settings.data_dir / "offers" / "files-vm" / "reports"
    reports.mkdir(parents=True)
    (reports / "report.html").write_text(f"<html><script>alert(1)</script>{secret}</html>")
    (reports / "serial.log").write_text(f"boot ok\nAccountKey=abc123==;\n{secret}\n")
    outside = tmp_path / "outside.log"
    outside.write_text("not served")
    _finish_with(
        store,
        Stage.CERTIFICATION,
        Artifact("report-html", reports / "report.html"),
        Artifact("serial", reports / "serial.log"),
        Artifact("stray", outside),
    )
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    page = client.get("/offers/files-vm", headers=cookie).text
    base = "/offers/files-vm/requests/1/displaycertify"
    assert f'href="{base}/0">report-html: report.html<' in page
    assert f'href="{base}/1">serial: serial.log<' in page
    report = client.get(f"{base}/0", headers=cookie)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert report.headers["content-security-policy"].startswith("sandbox;")
    assert secret not in report.text and "***" in report.text
    serial = client.get(f"{base}/1", headers=cookie)
    assert serial.headers["content-type"].startswith("text/plain")
    assert "boot ok" in serial.text and "abc123" not in serial.text and secret not in serial.text
    assert client.get(f"{base}/2", headers=cookie).status_code == 404  # outside the data dir
    assert client.get(f"{base}/3", headers=cookie).status_code == 404
    assert client.get(f"{base}/0").status_code == 303  # signed-in publishers only


def test_the_catalog_lists_live_offers_and_previews_only_for_their_subscriptions(
    client: httpx.Client, store: Store, tmp_path: Path, web_settings: PublishSettings
) -> None:
    offer = make_offer(tmp_path, "shop-vm", "Shop <VM>")
    audience = offer.preview_subscriptions[0]
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    for stage in (Stage.VALIDATE, Stage.CERTIFICATION, Stage.PROVISIONING):
        complete(store, stage)
    page_file = web_settings.data_dir / "offers" / "shop-vm" / "product.html"
    page_file.parent.mkdir(parents=True)
    page_file.write_text("<!doctype html><h1>Shop &lt;VM&gt;</h1>")
    _finish_with(store, Stage.PACKAGING, Artifact("product_page", page_file))
    complete(store, Stage.PREVIEW)
    assert "shop-vm" not in client.get("/catalog").text
    assert client.get("/catalog/shop-vm").status_code == 404
    other = client.get("/catalog", params={"subscription": "11111111-1111-1111-1111-111111111111"})
    assert 'data-offer="shop-vm"' not in other.text
    preview = client.get("/catalog", params={"subscription": audience})
    assert 'data-offer="shop-vm"' in preview.text and "Shop &lt;VM&gt;" in preview.text
    assert ">Preview<" in preview.text
    product = client.get("/catalog/shop-vm", params={"subscription": audience})
    assert product.status_code == 200 and "<h1>Shop &lt;VM&gt;</h1>" in product.text
    assert product.headers["content-security-policy"].startswith("sandbox;")
    key = sign_in(client)
    status_page = client.get("/offers/shop-vm", headers={"Cookie": f"vmcert_session={key}"})
    assert 'href="/catalog/shop-vm">Product page (preview)<' in status_page.text
    store.go_live("shop-vm", actor="alice")
    complete(store, Stage.LIVE)
    public = client.get("/catalog")
    assert 'data-offer="shop-vm"' in public.text and ">Live<" in public.text
    assert client.get("/catalog/shop-vm").status_code == 200


# -- editor and the notification e-mail ---------------------------------------------------------


def test_the_editor_shows_each_problem_next_to_its_field_and_saves_a_fix(
    client: httpx.Client, store: Store, tmp_path: Path
) -> None:
    offer = make_offer(tmp_path, "edit-vm", "Edit VM")
    path = tmp_path / "edit-vm" / "offer.toml"
    text = path.read_text()
    broken = text.replace('os_friendly_name = "Debian 12"', 'os_friendly_name = ""')
    broken = broken.replace('privacy_policy_url = "https://contoso.example/privacy"', "")
    path.write_text(broken)
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    page = client.get("/offers/edit-vm/edit", headers=cookie).text
    row = re.search(r'<tr data-field="plans\[0\]\.os_friendly_name" class="has-problem">.*?</tr>',
                    page, re.S)  # fmt: skip
    assert row and "required (it is empty)" in row.group(0)
    assert "listing.privacy_policy_url: required" in page  # a field the file lacks
    assert 'data-field="offer.id">' in page  # fields without problems have no warning class
    token = csrf_of(page)
    renamed = client.post(
        "/offers/edit-vm/edit",
        data={"csrf_token": token, "text": broken.replace('"edit-vm"', '"other-vm"', 1)},
        headers=cookie,
    )
    assert renamed.status_code == 303
    assert "offer.id must stay" in client.get("/offers/edit-vm/edit", headers=cookie).text
    assert path.read_text() == broken
    forged = client.post("/offers/edit-vm/edit", data={"text": text}, headers=cookie)
    assert forged.status_code == 403 and path.read_text() == broken
    saved = client.post("/offers/edit-vm/edit", data={"csrf_token": token, "text": text},
                        headers=cookie)  # fmt: skip
    assert saved.status_code == 303 and path.read_text() == text
    after = client.get("/offers/edit-vm/edit", headers=cookie).text
    assert "finds no problem" in after and "has-problem" not in after


def test_an_inline_secret_makes_the_editor_read_only_and_masked(
    client: httpx.Client, store: Store, tmp_path: Path, web_settings: PublishSettings
) -> None:
    offer = make_offer(tmp_path, "inline-vm", "Inline VM")
    path = tmp_path / "inline-vm" / "offer.toml"
    secret = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=c2VjcmV0LWtleS12YWx1ZQ==;"
    path.write_text(
        path.read_text()
        + f'\n[leads]\ndestination = "table"\nconnection_string = "{secret}"\n'
        + 'contact_email = "leads@contoso.example"\n'
    )
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    page = client.get("/offers/inline-vm/edit", headers=cookie).text
    assert "c2VjcmV0LWtleS12YWx1ZQ" not in page and "not editable here" in page
    assert '<textarea id="offer-text"' not in page
    token = csrf_of(page)
    client.post("/offers/inline-vm/edit", data={"csrf_token": token, "text": "x"}, headers=cookie)
    assert "holds an inline secret" in client.get("/offers/inline-vm/edit", headers=cookie).text
    assert secret in path.read_text()


def test_the_notification_email_is_asked_for_when_validation_passes(
    client: httpx.Client, store: Store, tmp_path: Path
) -> None:
    offer = make_offer(tmp_path, "mail-vm", "Mail VM")
    store.publish(offer, actor="alice", emails=[])
    (run_id,) = store.due_runs()
    claim = store.claim(run_id, "web-test")
    assert claim is not None
    assert store.finish(claim, WaitForInput("A notification e-mail address is needed."))
    key = sign_in(client)
    cookie = {"Cookie": f"vmcert_session={key}"}
    page = client.get("/offers/mail-vm", headers=cookie).text
    assert re.search(r'data-action="emails"\s*>', page)  # shown (not hidden)
    poll = client.get("/offers/mail-vm/status.json", headers=cookie).json()
    assert "emails" in poll["actions"]
    token = csrf_of(page)
    client.post("/offers/mail-vm/emails", data={"csrf_token": token, "emails": ""}, headers=cookie)
    assert "at least one notification e-mail" in client.get("/offers/mail-vm", headers=cookie).text
    client.post(
        "/offers/mail-vm/emails",
        data={"csrf_token": token, "emails": "ops@contoso.example"},
        headers=cookie,
    )
    request = store.request("mail-vm")
    assert request is not None and request.emails == ("ops@contoso.example",)
    assert store.due_runs()  # Validate runs again to complete
    page = client.get("/offers/mail-vm", headers=cookie).text
    assert "Notification e-mail set" in page
    assert re.search(r'data-action="emails" hidden', page)
