"""The publisher's story in a real browser against the real ``vmcert serve``: its worker runs the
default stages (QEMU certification of the cached test images, replication to the embedded
Azurite, the preview boot), Debian's chromium driven by Playwright does what a person does.

A publisher signs in, creates an offer, publishes it with a field Validate prerequisites
refuses, fixes the field in the editor, publishes again and watches the stages advance without
a reload until Certification fails on the defective image (its HTML report linked, the failure
e-mailed with the report attached); replaces the image with the good build, republishes from
step 1 to Publisher signoff (replicas in both regions verified by digest, no account key
recorded, the preview catalog for the preview subscription only), cancels (back to step 1),
publishes again, goes live from the keyboard and finds the offer in the public listing with its
product page. Then Provisioning, run again against storage that does not answer, gives up with
the cause. Screenshots of each page are kept as test artifacts (``build/test-artifacts/``).

This is the pipeline's end-to-end test of Publish -> Live (five TCG boots: about 25 minutes);
tests/test_publish_e2e.py keeps the worker-restart test.
"""

from __future__ import annotations

import email
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import httpx
import pytest

from harness.accel import TCG_TIMEOUT_SCALE
from harness.publish.adapters import CoreReplicator
from harness.publish.model import INFO, Stage
from harness.publish.offer import load_offer
from harness.publish.outcome import RetryLater
from harness.publish.settings import PublishSettings, load_settings
from harness.publish.stages.base import StageContext, StageLog
from harness.publish.stages.provisioning import ProvisioningStage
from harness.replication import azurite
from harness.web.auth import hash_password
from tests.publish_fixtures import free_port
from tests.test_web_browser import browser, playwright_api, shot
from tests.test_web_fixtures import PASSWORD, TOKEN, USER, artifacts

__all__ = ["artifacts", "browser"]  # fixtures used by name

pytestmark = pytest.mark.e2e

OFFER = "contoso-vm"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # the template's preview audience
STAGES_S = 480.0 * TCG_TIMEOUT_SCALE
"""Bound for one request to reach sign-off or its end: TCG boots on a loaded machine."""
SERVE = [sys.executable, "-m", "harness.cli", "serve"]
STEP = {stage: INFO[stage].step_id for stage in Stage}
LONG_SUMMARY = "Debian 12, hardened, with every package the web tier needs and nothing more " * 2


@dataclass
class Story:
    url: str
    settings: PublishSettings
    offer_dir: Path
    log: Path


@pytest.fixture
def story(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifacts: Path) -> Iterator[Story]:
    """``vmcert serve`` (console, API and worker with the default stages) as a process on a
    free port of 127.0.0.1, on SQLite and the outbox in a temporary data and state directory,
    with one local account; stopped (its process group) and the Azurite it started shut down
    at the end."""
    monkeypatch.setenv("VMCERT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VMCERT_STATE_DIR", str(tmp_path / "state"))
    for name in ("VMCERT_PUBLISH_SETTINGS", "VMCERT_PUBLISH_DB", "VMCERT_STORAGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    settings_file = tmp_path / "publish.toml"
    settings_file.write_text(
        "[publish]\ntick_seconds = 0.2\nretry_delay_seconds = 1.0\nretry_limit = 1\n"
    )
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(f'[accounts]\n{USER} = "{hash_password(PASSWORD, rounds=1000)}"\n')
    port = free_port()
    log = artifacts / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "--accounts", str(accounts), "--settings", settings_file],
            env={**os.environ, "VMCERT_WEB_TOKEN": TOKEN},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its QEMU children go with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/api/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "vmcert serve did not answer"
                time.sleep(0.2)
        settings = load_settings(settings_file)
        yield Story(url, settings, settings.data_dir / "offers" / OFFER, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        azurite.down()
    assert TOKEN not in log.read_text()


@pytest.fixture
def page(browser: playwright_api.Browser, story: Story) -> Iterator[playwright_api.Page]:
    context = browser.new_context(base_url=story.url)
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(30_000)
    yield opened
    context.close()
    assert dialogs == [], "a script from offer text ran"
    assert errors == [], "the page's own script failed"


def step(page: playwright_api.Page, stage: Stage) -> playwright_api.Locator:
    return page.locator(f'li[data-step="{STEP[stage]}"]')


def await_step(page: playwright_api.Page, stage: Stage, label: str, seconds: float) -> None:
    """Wait (without reloading: the page's own polling updates it) until ``stage`` shows
    ``label``, or stop early when a stage is blocked (the request failed)."""
    page.wait_for_function(
        """([id, label]) => {
             const s = document.querySelector(`li[data-step="${id}"] .step-status`);
             return (s && s.textContent === label)
               || document.querySelector("li.stage-blocked") !== null;
           }""",
        arg=[STEP[stage], label],
        timeout=seconds * 1000,
        polling=1000,
    )
    blocked = page.locator("li.stage-blocked .messages").all_inner_texts()
    playwright_api.expect(
        step(page, stage).locator(".step-status"), f"a stage is blocked: {blocked}"
    ).to_have_text(label, timeout=1000)


def unlabeled(page: playwright_api.Page) -> list[str]:
    """Names of the page's form fields without a label."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.name)"""
    )
    return found


def tab_to(page: playwright_api.Page, text: str) -> None:
    """Press Tab until the focused element is the button ``text``; fail if it never is."""
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == text:
            return
    pytest.fail(f"{text} cannot be reached with the keyboard")


def mails(settings: PublishSettings, subject: str, count: int = 1) -> list[Message]:
    """The outbox's e-mails whose subject holds ``subject``, once there are ``count`` of them
    (the worker's ticker delivers them)."""
    deadline = time.monotonic() + 60
    while True:
        found = [
            m
            for p in sorted(settings.outbox.glob("*.eml"))
            if subject in str((m := email.message_from_bytes(p.read_bytes()))["Subject"])
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def body(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and part.get_filename() is None:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def link_image(offer_dir: Path, image: Path) -> None:
    """The plan's image file as a link to a build output (replaced as a publisher replaces
    their build)."""
    target = offer_dir / "images" / "contoso-standard-1.0.0.vhd"
    target.parent.mkdir(exist_ok=True)
    target.unlink(missing_ok=True)
    target.symlink_to(image)


def test_a_publisher_takes_an_offer_from_creation_to_live(
    story: Story,
    page: playwright_api.Page,
    artifacts: Path,
    good_image: Path,
    defective_image: Path,
) -> None:
    expect = playwright_api.expect
    settings = story.settings
    page.goto("/offers")
    assert "/signin" in page.url
    shot(page, artifacts, "01-signin")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password or access token").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/offers")
    expect(page.get_by_text(f"Signed in as {USER}")).to_be_visible()
    shot(page, artifacts, "02-all-offers-empty")

    # -- create the offer -----------------------------------------------------------------
    page.get_by_role("link", name="New offer").click()
    page.wait_for_url("**/offers/new")
    assert unlabeled(page) == []
    page.get_by_label("Offer ID").fill(OFFER)
    page.get_by_label("Publisher ID").fill("contoso")
    page.get_by_label("Offer name").fill("Contoso Hardened Linux")
    page.get_by_label("Search results summary").fill("A hardened Debian image for web workloads.")
    page.get_by_label("Notification e-mail").fill("publishing@contoso.example")
    shot(page, artifacts, "03-new-offer")
    page.get_by_role("button", name="Create offer").click()
    page.wait_for_url(f"**/offers/{OFFER}/edit")
    expect(page.get_by_role("status").first).to_contain_text(f"Offer {OFFER} created")
    assert (story.offer_dir / "offer.toml").is_file()
    link_image(story.offer_dir, defective_image)  # the publisher's first build

    # The publisher pastes a long text into the plan's summary (at most 100 characters).
    text = page.get_by_label("Offer file (TOML)")
    text.fill(text.input_value().replace('"Debian 12, hardened"', f'"{LONG_SUMMARY}"', 1))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("would report 1 problem")

    # -- request 1: Validate prerequisites refuses the field ---------------------------------
    page.get_by_role("link", name="Status").click()
    page.wait_for_url(f"**/offers/{OFFER}")
    expect(page.locator("#offer-status")).to_have_text("Never published")
    assert unlabeled(page) == []
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Publish request 1 started.")
    page.evaluate("window.notReloaded = true")
    await_step(page, Stage.VALIDATE, "Blocked", 120)
    warning = step(page, Stage.VALIDATE).locator(".message-error").last
    expect(warning).to_contain_text("plans[0].summary")
    expect(page.locator("#offer-status")).to_have_text("Attention needed")
    assert page.evaluate("window.notReloaded") is True
    shot(page, artifacts, "04-validate-failed")

    page.get_by_role("link", name="Editor").click()
    row = page.locator('tr[data-field="plans[0].summary"]')
    expect(row.locator("td.message-error")).to_contain_text("100")
    assert unlabeled(page) == []
    shot(page, artifacts, "05-editor-warning")
    text = page.get_by_label("Offer file (TOML)")
    text.fill(text.input_value().replace(f'"{LONG_SUMMARY}"', '"Debian 12, hardened"', 1))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("finds no problem")
    expect(row).to_contain_text("Debian 12, hardened")

    # -- request 2: the defective build fails Certification, watched without a reload --------
    page.get_by_role("link", name="Status").click()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Publish request 2 started.")
    page.evaluate("window.notReloaded = true")
    await_step(page, Stage.VALIDATE, "Complete", 120)
    await_step(page, Stage.CERTIFICATION, "In progress", 120)
    shot(page, artifacts, "06-certification-running")
    await_step(page, Stage.CERTIFICATION, "Blocked", STAGES_S)
    assert page.evaluate("window.notReloaded") is True
    cert = step(page, Stage.CERTIFICATION)
    errors = cert.locator(".message-error").all_inner_texts()
    assert any(t.startswith("Certification failed: ") for t in errors), errors
    failing = [t for t in errors if t.startswith("plan standard 1.0.0: ")]
    assert failing, errors
    expect(step(page, Stage.PROVISIONING).locator(".step-status")).to_have_text("Not started")
    expect(page.locator("#request-error")).to_be_visible()
    report = cert.get_by_role("link", name="html: report.html")
    expect(report).to_be_visible()
    shot(page, artifacts, "07-certification-failed")
    run_dir = settings.work_dir(OFFER, 2, Stage.CERTIFICATION) / "run"
    for name in ("report.json", "junit.xml", "report.html"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "report.json").read_text())["images"][0]["verdict"] == "failed"
    report.click()
    page.wait_for_url(f"**/offers/{OFFER}/requests/2/{STEP[Stage.CERTIFICATION]}/*")
    check_id = failing[0].split(": ", 2)[1]
    expect(page.locator("body")).to_contain_text(check_id)
    shot(page, artifacts, "08-certification-report")
    page.go_back()

    (failure,) = mails(settings, "Certification failed")
    for line in failing:
        assert line.split(": ", 2)[1] in body(failure)  # every failing check id is in it
    assert [p.get_filename() for p in failure.walk() if p.get_filename()] == ["report.html"]

    # -- request 3: the fixed build, from step 1 to Publisher signoff ------------------------
    link_image(story.offer_dir, good_image)
    page.goto(f"/offers/{OFFER}")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Publish request 3 started.")
    page.evaluate("window.notReloaded = true")
    await_step(page, Stage.CERTIFICATION, "In progress", 120)
    expect(step(page, Stage.VALIDATE).locator(".step-status")).to_have_text("Complete")
    await_step(page, Stage.CERTIFICATION, "Complete", STAGES_S)
    await_step(page, Stage.SIGNOFF, "Waiting for publisher review", STAGES_S)
    assert page.evaluate("window.notReloaded") is True
    for stage in (Stage.PROVISIONING, Stage.PACKAGING, Stage.PREVIEW):
        expect(step(page, stage).locator(".step-status")).to_have_text("Complete")
    expect(step(page, Stage.PREVIEW).locator(".messages")).to_contain_text(
        "booted and answered SSH (Linux "
    )
    expect(page.get_by_role("button", name="Go live")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel publish")).to_be_visible()
    expect(page.get_by_role("button", name="Publish", exact=True)).to_be_hidden()
    shot(page, artifacts, "09-signoff")
    _replicas_verified(settings, 3)
    assert mails(settings, "available in preview")

    page.goto(f"/catalog?subscription={SUBSCRIPTION}")
    expect(page.locator(f'a[href^="/catalog/{OFFER}"]').first).to_be_visible()
    shot(page, artifacts, "10-preview-catalog")
    page.goto("/catalog")
    expect(page.locator(f'a[href^="/catalog/{OFFER}"]')).to_have_count(0)

    # -- cancel at sign-off: back to step 1 ---------------------------------------------------
    page.goto(f"/offers/{OFFER}")
    assert unlabeled(page) == []
    tab_to(page, "Cancel publish")  # reachable from the keyboard, as Go live is below
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    expect(page.get_by_role("status").first).to_contain_text("canceled")
    expect(page.locator("#offer-status")).to_have_text("Canceled")
    for stage in Stage:
        expect(step(page, stage).locator(".step-status")).to_have_text("Not started")
    expect(page.get_by_role("button", name="Publish", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Go live")).to_be_hidden()
    expect(page.get_by_role("button", name="Cancel publish")).to_be_hidden()
    shot(page, artifacts, "11-canceled")
    assert mails(settings, "publishing canceled")
    page.goto(f"/catalog?subscription={SUBSCRIPTION}")
    expect(page.locator(f'a[href^="/catalog/{OFFER}"]')).to_have_count(0)

    # -- request 4: publish again, go live from the keyboard ----------------------------------
    page.goto(f"/offers/{OFFER}")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Publish request 4 started.")
    page.evaluate("window.notReloaded = true")
    await_step(page, Stage.SIGNOFF, "Waiting for publisher review", 2 * STAGES_S)
    assert page.evaluate("window.notReloaded") is True
    page.reload()  # the preview link is part of the page, not of its polled document
    expect(page.get_by_role("link", name="Product page (preview)")).to_be_visible()
    tab_to(page, "Go live")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    expect(page.get_by_role("status").first).to_contain_text("Going live")
    page.evaluate("window.notReloaded = true")
    await_step(page, Stage.LIVE, "Complete", 300)
    expect(page.locator("#offer-status")).to_have_text("Live")
    assert page.evaluate("window.notReloaded") is True
    shot(page, artifacts, "12-live")
    assert mails(settings, ": live")

    page.get_by_role("link", name="History").click()
    history = page.locator("table.history tbody tr")
    expect(history.filter(has_text="Sign-off to go live")).to_contain_text(USER)
    expect(history.filter(has_text="Canceled submission to preview")).to_have_count(1)
    expect(history.last).to_contain_text("Created offer")  # newest first: creation is last
    expect(history.last).to_contain_text(USER)
    assert unlabeled(page) == []
    shot(page, artifacts, "13-history")
    page.get_by_role("link", name="All offers").click()
    row = page.locator(f'tr[data-offer="{OFFER}"]')
    expect(row.locator(".badge")).to_have_text("Live")
    shot(page, artifacts, "14-all-offers-live")

    # -- the public listing, as anyone sees it -------------------------------------------------
    visitor = page.context.browser
    assert visitor is not None
    public = visitor.new_context(base_url=story.url).new_page()
    public.goto("/catalog")
    public.get_by_role("link", name="Contoso Hardened Linux").first.click()
    public.wait_for_url(f"**/catalog/{OFFER}*")
    expect(public.locator("body")).to_contain_text("A hardened Debian image for web workloads.")
    shot(public, artifacts, "15-product-page")
    public.context.close()

    subjects = [str(m["Subject"]) for m in mails(settings, "[vmcert]")]
    assert subjects.count(f"[vmcert] {OFFER}: Validate Pre-Requisites failed") == 1, subjects
    assert subjects.count(f"[vmcert] {OFFER}: Certification failed") == 1, subjects
    assert subjects.count(f"[vmcert] {OFFER}: available in preview") == 2, subjects
    assert subjects.count(f"[vmcert] {OFFER}: publishing canceled") == 1, subjects
    assert subjects.count(f"[vmcert] {OFFER}: live") == 1, subjects

    # -- Provisioning against storage that does not answer ------------------------------------
    _unreachable_storage_fails_provisioning(settings, story.offer_dir, 4)


def _replicas_verified(settings: PublishSettings, number: int) -> None:
    """Both regions hold a copy whose digest matches the certified image; no account key is
    recorded."""
    replicas = json.loads(
        (settings.work_dir(OFFER, number, Stage.PROVISIONING) / "replicas.json").read_text()
    )
    assert sorted(r["region"] for r in replicas) == ["eastus", "westeurope"]
    certified = json.loads(
        (settings.work_dir(OFFER, number, Stage.CERTIFICATION) / "certified.json").read_text()
    )
    (entry,) = certified.values()
    assert all(r["verified"] and r["digest"] == entry["digest"] for r in replicas), replicas
    assert "AccountKey" not in json.dumps(replicas)


def _unreachable_storage_fails_provisioning(
    settings: PublishSettings, offer_dir: Path, number: int
) -> None:
    """Provisioning of the certified request again, the offer now naming a storage account on a
    port nothing listens on: the stage gives up with the cause (the pipeline retries it, then
    fails the request with that message)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    storage = offer_dir / "storage.toml"
    storage.write_text(
        "[storage]\n"
        f'[storage.regions.eastus]\naccount_url = "http://127.0.0.1:{port}/vmceastus"\n'
        'account_key = "c2VjcmV0LWtleS1mb3ItdGVzdHM="\n'
        f'[storage.regions.westeurope]\naccount_url = "http://127.0.0.1:{port}/vmcwesteurope"\n'
        'account_key = "c2VjcmV0LWtleS1mb3ItdGVzdHM="\n'
    )
    text = (offer_dir / "offer.toml").read_text()
    marker = '# storage_config = "storage.toml"'
    assert marker in text
    (offer_dir / "offer.toml").write_text(text.replace(marker, 'storage_config = "storage.toml"'))
    check = load_offer(offer_dir / "offer.toml")
    assert check.ok, check.problems
    work = settings.work_dir(OFFER, number, Stage.PROVISIONING).parent / "provisioning-again"
    work.mkdir()
    ctx = StageContext(
        offer=check.offer,
        problems=(),
        emails=("publishing@contoso.example",),
        number=number,
        attempt=1,
        settings=settings,
        work_dir=work,
        log=StageLog(work / "stage.log", settings.masker.mask),
        canceled=threading.Event(),
        report_progress=lambda _p: None,
    )
    outcome = ProvisioningStage(CoreReplicator()).run(ctx)
    assert isinstance(outcome, RetryLater), outcome
    assert outcome.message == (
        f"replication failed: storage unreachable: eastus (http://127.0.0.1:{port}/vmceastus): "
        f"connection refused; westeurope (http://127.0.0.1:{port}/vmcwesteurope): "
        "connection refused"
    ), outcome.message
    assert "c2VjcmV0LWtleS1mb3ItdGVzdHM" not in outcome.message
