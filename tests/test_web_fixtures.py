"""Fixtures of the web console's tests: a SQLite store, offers put into a given state through
the store's public API, and the application served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import html
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn

from harness.publish.model import Stage
from harness.publish.offer import Offer, load_offer
from harness.publish.outcome import Complete, Failed
from harness.publish.settings import PublishSettings, load_settings
from harness.publish.store import Store, open_store
from harness.publish.template import write_template
from harness.web.app import create_app
from harness.web.auth import hash_password, token_digest
from harness.web.config import WebConfig

ARTIFACTS_ENV = "VMCERT_TEST_ARTIFACTS"
"""Where tests keep files for a person to look at (screenshots); default build/test-artifacts."""
REPO = Path(__file__).resolve().parents[1]

USER, PASSWORD, TOKEN = "alice", "correct horse battery", "t0ken-for-the-api-0123456789"
HOSTILE_NAME = "Contoso <script>alert(1)</script><b>bold</b> & co"
BEFORE_SIGNOFF = (
    Stage.VALIDATE,
    Stage.CERTIFICATION,
    Stage.PROVISIONING,
    Stage.PACKAGING,
    Stage.PREVIEW,
)


def artifact_dir(test_name: str) -> Path:
    """``$VMCERT_TEST_ARTIFACTS/<test name>`` (default ``<repo>/build/test-artifacts/...``),
    emptied first so it holds this run's files only; kept after the test."""
    root = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "build" / "test-artifacts")
    directory = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """This test's artifact directory (:func:`artifact_dir`)."""
    return artifact_dir(request.node.name)


@pytest.fixture
def web_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PublishSettings:
    monkeypatch.setenv("VMCERT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VMCERT_PUBLISH_SETTINGS", raising=False)
    monkeypatch.setenv("VMCERT_PUBLISH_DB", f"sqlite:///{tmp_path / 'publish.db'}")
    return replace(load_settings(), lease_seconds=3.0, retry_limit=1)


@pytest.fixture
def store(web_settings: PublishSettings) -> Iterator[Store]:
    opened = open_store(web_settings)
    yield opened
    opened.close()


def make_offer(root: Path, offer_id: str, name: str) -> Offer:
    """``vmcert offer init`` output under ``root/offer_id`` with its id and name changed."""
    directory = root / offer_id
    path = write_template(directory)
    text = path.read_text()
    text = text.replace('id = "contoso-vm"', f'id = "{offer_id}"', 1)
    text = text.replace('name = "Contoso Hardened Linux"', f'name = "{name}"', 1)
    path.write_text(text)
    image = directory / "images" / "contoso-standard-1.0.0.vhd"
    image.parent.mkdir(exist_ok=True)
    image.write_bytes(b"\0" * 4096)
    offer = load_offer(path).offer
    assert offer.id == offer_id and offer.name == name
    return offer


def complete(store: Store, stage: Stage, message: str | None = None) -> None:
    """Record ``stage`` of the one due run as complete (claim it, finish it)."""
    (run_id,) = store.due_runs()
    claim = store.claim(run_id, "web-test")
    assert claim is not None and claim.stage is stage, claim
    assert store.finish(claim, Complete((message or f"{stage.value} done",)))


def fail(store: Store, stage: Stage, message: str, *details: str) -> None:
    (run_id,) = store.due_runs()
    claim = store.claim(run_id, "web-test")
    assert claim is not None and claim.stage is stage
    assert store.finish(claim, Failed(message, details=details))


def to_signoff(store: Store, offer: Offer) -> None:
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    for stage in BEFORE_SIGNOFF:
        complete(store, stage)


def web_config(**changes: object) -> WebConfig:
    config = WebConfig(
        accounts={USER: hash_password(PASSWORD, rounds=1000)},
        api_tokens={token_digest(TOKEN): "api-client"},
    )
    return replace(config, **changes)  # type: ignore[arg-type]


@dataclass
class Served:
    url: str
    server: uvicorn.Server


def serve(store: Store, settings: PublishSettings, config: WebConfig) -> Iterator[Served]:
    app = create_app(store, settings, config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(store: Store, web_settings: PublishSettings) -> Iterator[Served]:
    yield from serve(store, web_settings, web_config())


def set_cookie(response: httpx.Response, name: str) -> str | None:
    """The full Set-Cookie header for ``name`` (httpx's jar does not send Secure cookies over
    plain HTTP, so the tests carry cookies themselves)."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    return None


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "no CSRF token in the page"
    return html.unescape(match.group(1))


def sign_in(client: httpx.Client, user: str = USER, password: str = PASSWORD) -> str:
    """Sign in as the browser would; returns the session cookie's value."""
    form = client.get("/signin")
    signin_cookie = set_cookie(form, "vmcert_signin")
    assert signin_cookie is not None
    value = cookie_value(signin_cookie)
    answer = client.post(
        "/signin",
        data={"username": user, "password": password, "csrf_token": csrf_of(form.text)},
        headers={"Cookie": f"vmcert_signin={value}"},
    )
    assert answer.status_code == 303, answer.text
    session = set_cookie(answer, "vmcert_session")
    assert session is not None
    return cookie_value(session)
