"""The pipeline's commands with ``--server URL``: ``vmcert`` processes talking to a ``vmcert serve``
process (``--no-worker``: the test records the stages' outcomes through the store, on the same
database) through the JSON API with the token from ``$VMCERT_WEB_TOKEN``, which is never printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.publish.model import RequestStatus, Stage
from harness.publish.settings import PublishSettings
from harness.publish.status import status_document
from harness.publish.store import Store
from tests.publish_fixtures import free_port
from tests.test_web_fixtures import (
    TOKEN,
    complete,
    make_offer,
    store,
    to_signoff,
    web_settings,
)

__all__ = ["store", "web_settings"]  # fixtures used by name

VMCERT = [sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())"]


@pytest.fixture
def server(web_settings: PublishSettings, store: Store) -> Iterator[str]:
    """``vmcert serve --no-worker`` on the test's database, as a process."""
    port = free_port()
    env = {**os.environ, "VMCERT_WEB_TOKEN": TOKEN}
    process = subprocess.Popen(
        [*VMCERT, "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/api/openapi.json")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
        assert TOKEN not in out + err


def vmcert(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VMCERT_WEB_TOKEN"}
    if token is not None:
        env["VMCERT_WEB_TOKEN"] = token
    # The client must not need the database: point it somewhere that does not exist.
    env["VMCERT_PUBLISH_DB"] = "sqlite:////nonexistent/dir/never.db"
    done = subprocess.run([*VMCERT, *args], env=env, capture_output=True, text=True, timeout=120)
    assert TOKEN not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done


def test_publish_status_offers_and_cancel_through_the_server(
    server: str, store: Store, tmp_path: Path
) -> None:
    empty = vmcert("offers", "--server", server)
    assert empty.returncode == 0 and "no offers yet" in empty.stdout
    offer = make_offer(tmp_path, "remote-vm", "Remote <VM>")
    assert offer.source is not None
    started = vmcert(
        "publish", str(offer.source), "--server", server, "--no-wait", "--email", "r@x.example"
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "offer remote-vm: publish request 1 started"
    request = store.request("remote-vm")
    assert request is not None and request.status is RequestStatus.RUNNING
    assert request.emails == ("r@x.example",) and request.actor == "api"

    again = vmcert("publish", str(offer.source), "--server", server, "--no-wait")
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "already running" in again.stderr

    as_json = vmcert("status", "remote-vm", "--server", server, "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == json.loads(json.dumps(status_document(request)))
    text = vmcert("status", "remote-vm", "--server", server)
    assert "offer remote-vm, request 1: running" in text.stdout
    assert "1. Validate Pre-Requisites" in text.stdout and "running" in text.stdout

    listed = vmcert("offers", "--server", server)
    assert "remote-vm" in listed.stdout and "Remote <VM>" in listed.stdout
    assert "Validate Pre-Requisites" in listed.stdout
    listed_json = json.loads(vmcert("offers", "--server", server, "--json").stdout)
    assert [(o["id"], o["offerStatus"]) for o in listed_json] == [
        ("remote-vm", "publishInProgress")
    ]

    early = vmcert("cancel", "remote-vm", "--server", server)
    assert early.returncode == 2 and "cancel" in early.stderr.lower()
    for stage in (Stage.VALIDATE, Stage.CERTIFICATION, Stage.PROVISIONING, Stage.PACKAGING):
        complete(store, stage)
    complete(store, Stage.PREVIEW)
    canceled = vmcert("cancel", "remote-vm", "--server", server)
    assert canceled.returncode == 0, canceled.stderr
    after = store.request("remote-vm")
    assert after is not None and after.status is RequestStatus.CANCELED

    old = vmcert("status", "remote-vm", "--server", server, "--request", "1", "--json")
    assert json.loads(old.stdout)["status"] == "canceled"
    unknown = vmcert("status", "no-such-offer", "--server", server)
    assert unknown.returncode == 2 and "no-such-offer" in unknown.stderr


def test_go_live_waits_for_the_server_s_stages(server: str, store: Store, tmp_path: Path) -> None:
    offer = make_offer(tmp_path, "live-vm", "Live VM")
    to_signoff(store, offer)

    def finish_live() -> None:
        deadline = time.monotonic() + 60
        while not store.due_runs():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        complete(store, Stage.LIVE)

    worker = threading.Thread(target=finish_live)
    worker.start()
    done = vmcert("go-live", "live-vm", "--server", server, "--timeout", "60")
    worker.join()
    assert done.returncode == 0, done.stderr
    assert "offer live-vm: signed off; going live" in done.stdout
    assert "  Live: inProgress\n" in done.stdout and "  Live: complete\n" in done.stdout
    assert "offer live-vm, request 1: succeeded" in done.stdout
    request = store.request("live-vm")
    assert request is not None and request.status is RequestStatus.SUCCEEDED


def test_bad_server_token_or_url_is_one_line_with_its_exit_code(
    server: str, tmp_path: Path
) -> None:
    missing = vmcert("offers", "--server", server, token=None)
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("$VMCERT_WEB_TOKEN is not set; export the API token "
                                           "`vmcert serve` uses")  # fmt: skip
    wrong = vmcert("offers", "--server", server, token="not-the-token-0123456789")
    assert wrong.returncode == 2 and "refused the token" in wrong.stderr
    assert "not-the-token" not in wrong.stderr
    nobody = vmcert("offers", "--server", f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 3 and "is `vmcert serve` running?" in nobody.stderr
    assert nobody.stderr.count("\n") == 1
    bad_url = vmcert("offers", "--server", "ftp://127.0.0.1/")
    assert bad_url.returncode == 2 and "give the server's URL" in bad_url.stderr


def test_the_api_publishes_from_an_offer_file_only_under_its_own_id(
    server: str, store: Store, tmp_path: Path
) -> None:
    offer = make_offer(tmp_path, "file-vm", "File VM")
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def post(offer_id: str, body: object) -> httpx.Response:
        return httpx.post(f"{server}/api/offers/{offer_id}/publish", json=body, headers=auth)

    other = post("other-vm", {"offerFile": str(offer.source)})
    assert other.status_code == 422 and "its offer.id is 'file-vm'" in other.text
    relative = post("file-vm", {"offerFile": "file-vm/offer.toml"})
    assert relative.status_code == 422 and "absolute path" in relative.text
    assert post("file-vm", {"offerFile": 7}).status_code == 400
    missing = post("file-vm", {"offerFile": str(tmp_path / "nope.toml")})
    assert missing.status_code == 422
    assert store.offers() == []
    started = post("file-vm", {"offerFile": str(offer.source)})
    assert started.status_code == 202 and started.headers["operation-location"].startswith(
        "/api/operations/file-vm$1$publish"
    )


def test_history_catalog_outbox_and_support_through_the_server(
    server: str, store: Store, tmp_path: Path
) -> None:
    """Each prints what the same command prints without ``--server`` (on the same database);
    the API's answers match their OpenAPI schemas."""
    from tests.test_web_http import _valid

    preview = make_offer(tmp_path, "seen-vm", "Seen <VM>")
    to_signoff(store, preview)
    live = make_offer(tmp_path, "live-vm", "Live VM")
    to_signoff(store, live)
    store.go_live("live-vm", actor="alice")
    complete(store, Stage.LIVE)

    def local(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "VMCERT_WEB_TOKEN"}
        return subprocess.run([*VMCERT, *args], env=env, capture_output=True, text=True)

    opened = vmcert("support", "seen-vm", "--server", server, "--message", "it <broke>")
    assert opened.returncode == 0, opened.stderr
    first, bundle = opened.stdout.strip().split(": bundle ")
    assert first == "support request 1 for seen-vm"
    assert Path(bundle).is_file()
    event = store.history("seen-vm")[-1]
    assert event.what.value == "Opened a support request" and event.who == "api"
    unknown = vmcert("support", "no-such-vm", "--server", server, "--message", "x")
    assert unknown.returncode == 2 and "no-such-vm" in unknown.stderr
    assert unknown.stderr.count("\n") == 1

    for args in (
        ("history", "seen-vm"),
        ("history", "seen-vm", "--json"),
        ("catalog",),
        ("catalog", "--subscription", "00000000-0000-0000-0000-000000000000"),
        ("outbox",),
        ("outbox", "--json"),
    ):
        remote = vmcert(*args, "--server", server)
        here = local(*args)
        assert remote.returncode == 0 == here.returncode, (args, remote.stderr, here.stderr)
        assert remote.stdout == here.stdout, args
        assert remote.stdout.strip(), args
    catalog = vmcert("catalog", "--server", server).stdout.splitlines()
    assert [line.split()[:2] for line in catalog] == [["live-vm", "live"]]
    history = vmcert("history", "seen-vm", "--server", server).stdout
    assert "Sign-off to go live" not in history and "Opened a support request" in history
    outbox = vmcert("outbox", "--server", server, "--json").stdout.splitlines()
    subjects = [json.loads(line)["subject"] for line in outbox]
    assert any("support request" in s.lower() for s in subjects), subjects
    assert vmcert("history", "no-such-vm", "--server", server).returncode == 2

    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers = {
        "EventList": httpx.get(f"{server}/api/offers/seen-vm/history", headers=auth),
        "Catalog": httpx.get(
            f"{server}/api/catalog",
            params={"subscription": "00000000-0000-0000-0000-000000000000"},
            headers=auth,
        ),
        "Outbox": httpx.get(f"{server}/api/outbox", headers=auth),
        "SupportRequest": httpx.post(
            f"{server}/api/offers/live-vm/support", json={"message": "m"}, headers=auth
        ),
    }
    for name, answer in answers.items():
        assert answer.status_code in (200, 201), (name, answer.text)
        _valid(answer.json(), name)
    assert len(answers["Catalog"].json()["value"]) == 2
    assert httpx.get(f"{server}/api/outbox").status_code == 401
    bad = httpx.post(f"{server}/api/offers/live-vm/support", json={"message": 7}, headers=auth)
    assert bad.status_code == 400
