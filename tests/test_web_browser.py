"""The console in a real browser: Debian's chromium driven by Playwright (its own browser
download cannot work here) against the application on 127.0.0.1. Offers are put into a given
state through the store's public API; the browser signs in and uses the pages as a person does.
Screenshots of each page are kept as test artifacts (``$VMCERT_TEST_ARTIFACTS``, default
``build/test-artifacts/<test>/``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.publish.model import RequestStatus, Stage, StepStatus
from harness.publish.outcome import Artifact, Failed
from harness.publish.settings import PublishSettings
from harness.publish.store import Store
from tests.test_web_fixtures import (
    HOSTILE_NAME,
    PASSWORD,
    USER,
    Served,
    artifacts,
    complete,
    fail,
    make_offer,
    served,
    store,
    to_signoff,
    web_settings,
)

__all__ = ["artifacts", "served", "store", "web_settings"]  # fixtures used by name

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api")

if not CHROMIUM.exists() or shutil.which("chromium") is None:
    pytest.skip("Debian's chromium is not installed (scripts/install.sh)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_api.Browser]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(
    browser: playwright_api.Browser, served: Served, tmp_path: Path
) -> Iterator[playwright_api.Page]:
    context = browser.new_context(base_url=served.url)
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
    assert dialogs == [], "a script from offer text ran"
    assert errors == [], "the page's own script failed"


def shot(page: playwright_api.Page, artifacts: Path, name: str) -> None:
    """A full-page screenshot kept as a test artifact (``artifacts``: the test's directory)."""
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def sign_in(page: playwright_api.Page, target: str = "/offers") -> None:
    page.goto(target)
    assert "/signin" in page.url
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password or access token").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{target}")
    playwright_api.expect(page.get_by_text(f"Signed in as {USER}")).to_be_visible()


def test_sign_in_all_offers_and_text_with_markup_stays_text(
    page: playwright_api.Page, store: Store, tmp_path: Path, artifacts: Path
) -> None:
    quiet = make_offer(tmp_path, "quiet-vm", "Quiet VM")
    to_signoff(store, quiet)
    hostile = make_offer(tmp_path, "hostile-vm", HOSTILE_NAME)
    store.publish(hostile, actor="alice", emails=["p@contoso.example"])
    page.goto("/signin")
    shot(page, artifacts, "signin")
    sign_in(page)
    expect = playwright_api.expect
    rows = page.locator("table.offers tbody tr")
    expect(rows).to_have_count(2)
    link = page.get_by_role("link", name=HOSTILE_NAME)
    expect(link).to_have_text(HOSTILE_NAME)  # the markup is shown as text
    assert page.locator("table.offers b, table.offers script").count() == 0
    quiet_row = page.locator('tr[data-offer="quiet-vm"]')
    expect(quiet_row.locator(".badge")).to_have_text("Preview")
    expect(quiet_row).to_contain_text("Publisher signoff")
    hostile_row = page.locator('tr[data-offer="hostile-vm"]')
    expect(hostile_row.locator(".badge")).to_have_text("Publish in progress")
    expect(hostile_row).to_contain_text("Validate Pre-Requisites (< 1 day)")
    shot(page, artifacts, "all-offers")
    page.get_by_label("Status").select_option("preview")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-offer", "quiet-vm")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search").fill("<script>")
    page.keyboard.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-offer", "hostile-vm")
    link.click()
    page.wait_for_url("**/offers/hostile-vm")
    expect(page.get_by_role("heading", level=1)).to_contain_text(HOSTILE_NAME)
    shot(page, artifacts, "status-hostile")


def test_go_live_only_at_signoff_and_cancel_refused_before_it_accepted_at_it(
    page: playwright_api.Page, store: Store, tmp_path: Path, artifacts: Path
) -> None:
    expect = playwright_api.expect
    early = make_offer(tmp_path, "early-vm", "Early VM")
    store.publish(early, actor="alice", emails=["p@contoso.example"])
    sign_in(page, "/offers/early-vm")
    go_live = page.get_by_role("button", name="Go live")
    cancel = page.get_by_role("button", name="Cancel publish")
    expect(go_live).to_be_hidden()
    expect(cancel).to_be_hidden()
    expect(page.get_by_role("button", name="Publish")).to_be_hidden()  # one request at a time
    expect(page.get_by_role("button", name="Open support request")).to_be_visible()
    # A hand-made submit of the hidden Cancel form is refused by the server.
    page.locator('form[data-action="cancel"]').evaluate("form => form.requestSubmit()")
    page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text(
        "Cancel is accepted only once the request reaches Publisher signoff"
    )
    request = store.request("early-vm")
    assert request is not None and request.status is RequestStatus.RUNNING
    shot(page, artifacts, "status-cancel-refused")

    for stage in (
        Stage.VALIDATE,
        Stage.CERTIFICATION,
        Stage.PROVISIONING,
        Stage.PACKAGING,
        Stage.PREVIEW,
    ):
        complete(store, stage)
    page.reload()
    expect(go_live).to_be_visible()
    expect(cancel).to_be_visible()
    signoff = page.locator('li[data-step="publisher-signoff"]')
    expect(signoff.locator(".step-status")).to_have_text("Waiting for publisher review")
    shot(page, artifacts, "status-signoff")
    cancel.click()
    page.wait_for_load_state()
    expect(page.get_by_role("status").first).to_contain_text("canceled")
    request = store.request("early-vm")
    assert request is not None and request.status is RequestStatus.CANCELED
    assert {s.status for s in request.stages} == {StepStatus.NOT_STARTED}
    expect(page.get_by_role("button", name="Publish")).to_be_visible()
    expect(go_live).to_be_hidden()

    to_go = make_offer(tmp_path, "live-vm", "Live VM")
    to_signoff(store, to_go)
    page.goto("/offers/live-vm")
    page.get_by_role("button", name="Go live").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status").first).to_contain_text("Going live")
    live = store.request("live-vm")
    assert live is not None and live.stage is Stage.LIVE
    assert store.history("live-vm")[-2].who == USER


def test_the_status_page_follows_the_stages_without_reloading(
    page: playwright_api.Page,
    store: Store,
    tmp_path: Path,
    artifacts: Path,
    web_settings: PublishSettings,
) -> None:
    expect = playwright_api.expect
    offer = make_offer(tmp_path, "watch-vm", "Watch VM")
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    sign_in(page, "/offers/watch-vm")
    page.evaluate("window.notReloaded = true")
    validate = page.locator('li[data-step="displaydummycertify"]')
    certification = page.locator('li[data-step="displaycertify"]')
    expect(validate.locator(".step-status")).to_have_text("In progress")
    expect(certification.locator(".step-status")).to_have_text("Not started")
    complete(store, Stage.VALIDATE, "Offer settings are valid <ok>")
    expect(validate.locator(".step-status")).to_have_text("Complete")
    expect(certification.locator(".step-status")).to_have_text("In progress")
    expect(validate.locator(".messages li")).to_have_text(["Offer settings are valid <ok>"])
    assert validate.locator("progress").evaluate("p => p.value") == 100
    assert page.evaluate("window.notReloaded") is True
    shot(page, artifacts, "status-advancing")
    # The stage fails with its report: the link and the request's error appear, no reload.
    report = web_settings.data_dir / "watch-report.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<html><body><p>check-x failed</p></body></html>")
    (run_id,) = store.due_runs()
    claim = store.claim(run_id, "web-test")
    assert claim is not None and claim.stage is Stage.CERTIFICATION
    failed = Failed("Certification failed: 1 failing check", artifacts=(Artifact("html", report),))
    assert store.finish(claim, failed)
    expect(certification.locator(".step-status")).to_have_text("Blocked")
    expect(page.locator("#request-error")).to_have_text("Certification failed: 1 failing check")
    link = certification.get_by_role("link", name="html: watch-report.html")
    expect(link).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    shot(page, artifacts, "status-failed-with-report")
    link.click()
    expect(page.locator("body")).to_contain_text("check-x failed")


def test_keyboard_reaches_everything_and_every_field_has_a_label(
    page: playwright_api.Page, store: Store, tmp_path: Path, artifacts: Path
) -> None:
    expect = playwright_api.expect
    offer = make_offer(tmp_path, "keys-vm", "Keys VM")
    to_signoff(store, offer)
    page.goto("/signin")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.get_by_label("User name").focus()
    page.keyboard.type(USER)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/offers")
    page.goto("/offers/keys-vm")
    for url in (
        "/offers",
        "/offers/keys-vm",
        "/offers/keys-vm/edit",
        "/offers/keys-vm/history",
        "/catalog",
    ):
        page.goto(url)
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                 .map(e => e.name)"""
        )
        assert unlabeled == [], (url, unlabeled)
    page.goto("/offers/keys-vm")
    go_live = page.get_by_role("button", name="Go live")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Go live":
            break
    else:
        pytest.fail("Go live cannot be reached with the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    expect(go_live).to_be_hidden()
    request = store.request("keys-vm")
    assert request is not None and request.stage is Stage.LIVE
    page.goto("/offers/keys-vm/history")
    signed = page.locator("table.history tbody tr", has_text="Sign-off to go live")
    expect(signed).to_have_count(1)
    expect(signed).to_contain_text(USER)
    expect(page.locator("table.history tbody tr").first).to_contain_text("Stage started")
    shot(page, artifacts, "history")


def test_a_field_warning_is_fixed_in_the_editor_and_the_offer_republished(
    page: playwright_api.Page, store: Store, tmp_path: Path, artifacts: Path
) -> None:
    expect = playwright_api.expect
    offer = make_offer(tmp_path, "fix-vm", "Fix VM")
    path = tmp_path / "fix-vm" / "offer.toml"
    good = path.read_text()
    path.write_text(good.replace('os_friendly_name = "Debian 12"', 'os_friendly_name = ""'))
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    fail(
        store,
        Stage.VALIDATE,
        "1 problem with the offer's fields; fix them and publish again",
        "plans[0].os_friendly_name: required (it is empty)",
    )
    sign_in(page, "/offers/fix-vm")
    validate = page.locator('li[data-step="displaydummycertify"]')
    expect(validate.locator(".step-status")).to_have_text("Blocked")
    expect(validate.locator(".message-error").last).to_have_text(
        "plans[0].os_friendly_name: required (it is empty)"
    )
    page.get_by_role("link", name="Editor").click()
    row = page.locator('tr[data-field="plans[0].os_friendly_name"]')
    expect(row).to_contain_text("required (it is empty)")
    shot(page, artifacts, "editor-warning")
    text = page.get_by_label("Offer file (TOML)")
    text.fill(text.input_value().replace('os_friendly_name = ""', 'os_friendly_name = "Debian 12"'))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("finds no problem")
    expect(row).not_to_contain_text("required")
    assert path.read_text() == good
    page.get_by_role("link", name="Status").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").first).to_contain_text("Publish request 2 started.")
    expect(validate.locator(".step-status")).to_have_text("In progress")
    page.evaluate("window.notReloaded = true")
    complete(store, Stage.VALIDATE)
    expect(validate.locator(".step-status")).to_have_text("Complete")
    expect(page.locator('li[data-step="displaycertify"] .step-status')).to_have_text("In progress")
    assert page.evaluate("window.notReloaded") is True
    shot(page, artifacts, "republished")


def test_a_publisher_creates_an_offer_fixes_a_field_and_publishes_it(
    page: playwright_api.Page, store: Store, tmp_path: Path, artifacts: Path
) -> None:
    expect = playwright_api.expect
    sign_in(page)
    page.get_by_role("link", name="New offer").click()
    page.wait_for_url("**/offers/new")
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden])')]
             .filter(e => !(e.labels && e.labels.length)).map(e => e.name)"""
    )
    assert unlabeled == []
    page.get_by_label("Offer ID").fill("Northwind VM")  # spaces and capitals: refused
    page.get_by_label("Publisher ID").fill("northwind")
    page.get_by_label("Offer name").fill("Northwind <i>VM</i>")
    page.get_by_label("Search results summary").fill("A small Debian VM.")
    page.get_by_label("Notification e-mail").fill("ops@northwind.example")
    page.get_by_role("button", name="Create offer").click()
    offer_id = page.get_by_label("Offer ID")
    expect(offer_id).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#new-offer_id-error")).to_contain_text("lowercase letters")
    expect(page.get_by_role("alert")).to_contain_text("1 field to fix")
    expect(page.get_by_label("Offer name")).to_have_value("Northwind <i>VM</i>")  # kept
    shot(page, artifacts, "new-offer-error")
    assert store.offers() == []
    offer_id.fill("northwind-vm")
    offer_id.press("Enter")  # submits from the keyboard
    page.wait_for_url("**/offers/northwind-vm/edit")
    expect(page.get_by_role("status").first).to_contain_text("Offer northwind-vm created")
    expect(page.locator('tr[data-field="offer.name"]')).to_contain_text("Northwind <i>VM</i>")
    shot(page, artifacts, "new-offer-editor")
    page.get_by_role("link", name="All offers").click()
    row = page.locator('tr[data-offer="northwind-vm"]')
    expect(row).to_contain_text("Never published")
    row.get_by_role("link", name="Northwind <i>VM</i>").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").first).to_contain_text("Publish request 1 started.")
    expect(page.locator('li[data-step="displaydummycertify"] .step-status')).to_have_text(
        "In progress"
    )
    request = store.request("northwind-vm")
    assert request is not None and request.emails == ("ops@northwind.example",)
    shot(page, artifacts, "new-offer-published")
