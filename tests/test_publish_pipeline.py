"""The pipeline with its real stages and services: Validate prerequisites, the e-mail prompt,
Packaging with the product page and real lead destinations (Azurite's table service, an HTTPS
endpoint), SMTP with STARTTLS and credentials (aiosmtpd) and the outbox, the status JSON, the
support bundle."""

from __future__ import annotations

import email
import json
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from harness.publish.model import RequestStatus, Stage, StepStatus
from harness.publish.notify import OutboxMailer, SmtpMailer
from harness.publish.offer import load_offer
from harness.publish.pipeline import Pipeline
from harness.publish.settings import PublishSettings, SmtpSettings
from harness.publish.stages.base import StageContext, StageLog
from harness.publish.stages.packaging import PackagingStage
from harness.publish.stages.validate import ValidateStage
from harness.publish.status import status_document
from harness.publish.support import write_bundle

pytest_plugins = ("tests.publish_fixtures",)
pytest.register_assert_rewrite("tests.publish_fixtures")

from tests.publish_fixtures import (  # noqa: E402
    AzuriteTable,
    LeadReceiver,
    SmtpServer,
    TestCA,
    edit_offer,
)

VALIDATE_ONLY = {Stage.VALIDATE: ValidateStage()}


def test_missing_fields_fail_validate_with_each_field_and_an_error_mail(
    settings: PublishSettings, offer_dir: Path
) -> None:
    path = offer_dir / "offer.toml"
    edit_offer(path, 'privacy_policy_url = "https://contoso.example/privacy"', "")
    edit_offer(path, 'os_friendly_name = "Debian 12"', 'os_friendly_name = ""')
    pipeline = Pipeline(settings, VALIDATE_ONLY)
    try:
        pipeline.publish(path, actor="alice")
        assert pipeline.settle("contoso-vm", 30)
        request = pipeline.store.request("contoso-vm")
        assert request is not None and request.status is RequestStatus.FAILED
        validate = request.stage_view(Stage.VALIDATE)
        assert validate.status is StepStatus.BLOCKED
        assert [m.text for m in validate.messages] == [
            "2 problems with the offer's fields; fix them and publish again",
            "listing.privacy_policy_url: required",
            "plans[0].os_friendly_name: required (it is empty)",
        ]
        assert request.stage_view(Stage.CERTIFICATION).status is StepStatus.NOT_STARTED
    finally:
        pipeline.close()
    (message,) = sorted((settings.outbox).glob("*.eml"))
    parsed = email.message_from_bytes(message.read_bytes())
    assert parsed["Subject"] == "[vmcert] contoso-vm: Validate Pre-Requisites failed"
    assert parsed["To"] == "publishing@contoso.example"
    body = parsed.get_payload(decode=True)
    assert isinstance(body, bytes) and b"listing.privacy_policy_url: required" in body


def test_the_email_is_asked_for_when_validation_passes(
    settings: PublishSettings, offer_dir: Path
) -> None:
    path = offer_dir / "offer.toml"
    edit_offer(path, 'emails = ["publishing@contoso.example"]', "")
    pipeline = Pipeline(settings, VALIDATE_ONLY)
    try:
        pipeline.publish(path, actor="alice")
        assert pipeline.settle("contoso-vm", 30)
        request = pipeline.store.request("contoso-vm")
        assert request is not None and request.status is RequestStatus.RUNNING
        validate = request.stage_view(Stage.VALIDATE)
        assert validate.status is StepStatus.IN_PROGRESS
        assert "waiting for the notification e-mail" in validate.messages[-1].text
        pipeline.store.provide_emails("contoso-vm", ["ops@contoso.example"], actor="alice")
        assert pipeline.settle("contoso-vm", 30)
        request = pipeline.store.request("contoso-vm")
        assert request is not None
        assert request.stage_view(Stage.VALIDATE).status is StepStatus.COMPLETE
        assert request.emails == ("ops@contoso.example",)
        assert request.stage is Stage.CERTIFICATION
    finally:
        pipeline.close()


def _context(settings: PublishSettings, offer_path: Path, env: dict[str, str]) -> StageContext:
    check = load_offer(offer_path, env=env)
    assert check.ok, check.problems
    for secret in check.offer.secrets():
        settings.masker.add(secret)
    work = settings.work_dir(check.offer.id, 1, Stage.PACKAGING)
    work.mkdir(parents=True)
    return StageContext(
        offer=check.offer,
        problems=(),
        emails=("p@contoso.example",),
        number=1,
        attempt=1,
        settings=settings,
        work_dir=work,
        log=StageLog(work / "stage.log", settings.masker.mask),
        canceled=threading.Event(),
        report_progress=lambda _p: None,
    )


def _table_leads(path: Path) -> None:
    edit_offer(
        path,
        "[notifications]",
        '[leads]\ndestination = "table"\ncontact_email = "leads@contoso.example"\n'
        'connection_string_env = "CONTOSO_LEADS"\ntable = "MarketplaceLeads"\n\n[notifications]',
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_packaging_builds_the_page_and_the_table_reads_back_the_test_lead(
    settings: PublishSettings, offer_dir: Path, azurite_table: AzuriteTable
) -> None:
    from azure.data.tables import TableClient

    _table_leads(offer_dir / "offer.toml")
    connection = azurite_table.connection_string()
    ctx = _context(settings, offer_dir / "offer.toml", {"CONTOSO_LEADS": connection})
    outcome = PackagingStage().run(ctx)
    assert outcome.__class__.__name__ == "Complete", outcome
    page = ctx.work_dir / "product.html"
    assert "<h1>Contoso Hardened Linux</h1>" in page.read_text()
    table = TableClient.from_connection_string(connection, "MarketplaceLeads")
    (lead,) = list(table.query_entities("Description ge 'MSFT_TEST_'"))
    assert lead["ActionCode"] == "INS" and lead["OfferDisplayName"] == "Contoso Hardened Linux"
    info = json.loads(lead["CustomerInfo"])
    assert info["Email"] == f"{lead['Description']}@test.com" and info["Phone"] == "1234567890"
    assert lead["LeadSource"] == "AzureMarketplace-INS|contoso.contoso-vm"
    # A re-run (the stage is idempotent) rewrites the same entity.
    PackagingStage().run(ctx)
    assert len(list(table.query_entities("ActionCode eq 'INS'"))) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_table_that_rejects_the_lead_fails_the_stage_with_its_message(
    settings: PublishSettings, offer_dir: Path, azurite_table: AzuriteTable
) -> None:
    _table_leads(offer_dir / "offer.toml")
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmc="
    connection = azurite_table.connection_string(key=wrong_key)
    ctx = _context(settings, offer_dir / "offer.toml", {"CONTOSO_LEADS": connection})
    outcome = PackagingStage().run(ctx)
    assert outcome.__class__.__name__ == "Failed"
    message = getattr(outcome, "message", "")
    assert message.startswith("The lead destination rejected the test lead: Azure Table said 403")
    assert wrong_key not in message and wrong_key not in (ctx.work_dir / "stage.log").read_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_https_endpoint_receives_the_test_lead_or_rejects_it(
    settings: PublishSettings, offer_dir: Path, lead_receiver: LeadReceiver, test_ca: TestCA
) -> None:
    edit_offer(
        offer_dir / "offer.toml",
        "[notifications]",
        f'[leads]\ndestination = "https"\ncontact_email = "leads@contoso.example"\n'
        f'url = "{lead_receiver.url}"\nca_file = "{test_ca.ca_file}"\n\n[notifications]',
    )
    ctx = _context(settings, offer_dir / "offer.toml", {})
    outcome = PackagingStage().run(ctx)
    assert outcome.__class__.__name__ == "Complete", outcome
    (lead,) = lead_receiver.leads
    details = lead["userdetails"]
    assert isinstance(details, dict) and str(details["FirstName"]).startswith("MSFT_TEST_")
    assert lead["offertitle"] == "Contoso Hardened Linux" and lead["actioncode"] == "INS"
    lead_receiver.reject_with = (400, "Lead rejected: unknown OfferTitle")
    failed = PackagingStage().run(ctx)
    assert getattr(failed, "message", "") == (
        "The lead destination rejected the test lead: HTTP 400 Bad Request: "
        "Lead rejected: unknown OfferTitle"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_mail_through_smtp_with_starttls_and_credentials(
    settings: PublishSettings, offer_dir: Path, smtp_server: SmtpServer, test_ca: TestCA
) -> None:
    from harness.publish.secrets import Secret

    smtp = SmtpSettings(
        host="127.0.0.1",
        port=smtp_server.port,
        starttls=True,
        username=smtp_server.user,
        password=Secret(smtp_server.password, "env:VMCERT_SMTP_PASSWORD"),
        sender="vmcert@contoso.example",
        ca_file=test_ca.ca_file,
    )
    settings = replace(settings, smtp=smtp, sender=smtp.sender)
    settings.masker.add(smtp.password)
    path = offer_dir / "offer.toml"
    edit_offer(path, 'os_type = "debian"', "")
    pipeline = Pipeline(settings, VALIDATE_ONLY, mailer=SmtpMailer(smtp))
    try:
        pipeline.publish(path, actor="alice")
        assert pipeline.settle("contoso-vm", 30)
    finally:
        pipeline.close()
    (raw,) = smtp_server.wait_for(1)
    message = email.message_from_bytes(raw)
    assert message["Subject"] == "[vmcert] contoso-vm: Validate Pre-Requisites failed"
    assert smtp_server.logins, "authenticated after STARTTLS"
    assert smtp_server.password.encode() not in raw
    (sent,) = pipeline.store.mails("contoso-vm")
    assert sent.via == "smtp" and sent.sent_at is not None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_smtp_credentials_keep_the_mail_queued_with_the_reason(
    settings: PublishSettings, offer_dir: Path, smtp_server: SmtpServer, test_ca: TestCA
) -> None:
    from harness.publish.secrets import Secret

    smtp = SmtpSettings(
        "127.0.0.1",
        smtp_server.port,
        True,
        smtp_server.user,
        Secret("wrong-password"),
        ca_file=test_ca.ca_file,
    )
    path = offer_dir / "offer.toml"
    edit_offer(path, 'os_type = "debian"', "")
    pipeline = Pipeline(settings, VALIDATE_ONLY, mailer=SmtpMailer(smtp))
    try:
        pipeline.publish(path, actor="alice")
        pipeline.settle("contoso-vm", 30)
    finally:
        pipeline.close()
    (queued,) = pipeline.store.mails("contoso-vm")
    assert queued.sent_at is None
    assert (
        queued.last_error
        == f"SMTP relay 127.0.0.1:{smtp_server.port} refused the credentials (535)"
    )
    assert smtp_server.messages == []


def test_status_json_is_in_the_cpp_shape(settings: PublishSettings, offer_dir: Path) -> None:
    path = offer_dir / "offer.toml"
    edit_offer(path, 'name = "Contoso Hardened Linux"', 'name = "<b>Contoso</b>"')
    pipeline = Pipeline(settings, VALIDATE_ONLY)
    try:
        pipeline.publish(path, actor="alice")
        pipeline.settle("contoso-vm", 30)
        request = pipeline.store.request("contoso-vm")
        assert request is not None
        document = status_document(request)
    finally:
        pipeline.close()
    assert document["status"] == "failed" and document["currentStep"] == "displaycertify"
    assert document["notificationEmails"] == "publishing@contoso.example"
    steps = document["steps"]
    assert isinstance(steps, list) and len(steps) == 7
    ids = [s["id"] for s in steps if isinstance(s, dict)]
    assert ids == [
        "displaydummycertify",
        "displaycertify",
        "displayprovision",
        "displaypackage",
        "preview",
        "publisher-signoff",
        "live",
    ]
    first, second = steps[0], steps[1]
    assert isinstance(first, dict) and isinstance(second, dict)
    assert set(first) >= {
        "estimatedTimeFrame",
        "id",
        "stepName",
        "description",
        "status",
        "messages",
        "progressPercentage",
    }
    assert (first["status"], first["progressPercentage"]) == ("complete", 100)
    assert first["estimatedTimeFrame"] == "< 1 day"
    assert second["status"] == "blocked"
    messages = second["messages"]
    assert isinstance(messages, list) and isinstance(messages[0], dict)
    assert messages[0]["level"] == "error" and messages[0]["timestamp"]
    assert json.loads(json.dumps(document)) == document


def test_support_bundle_masks_secrets(settings: PublishSettings, offer_dir: Path) -> None:
    path = offer_dir / "offer.toml"
    secret = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=SUPERSECRETKEY123=="
    edit_offer(
        path,
        "[notifications]",
        '[leads]\ndestination = "table"\ncontact_email = "leads@contoso.example"\n'
        f'connection_string = "{secret}"\n\n[notifications]',
    )
    pipeline = Pipeline(settings, VALIDATE_ONLY)
    try:
        pipeline.publish(path, actor="alice")
        pipeline.settle("contoso-vm", 30)
        bundle = write_bundle(pipeline.store, settings, "contoso-vm", settings.data_dir / "b.tgz")
        number = pipeline.store.add_support(
            "contoso-vm", who="alice", message="stuck", bundle=str(bundle)
        )
        pipeline.ticker.deliver()
    finally:
        pipeline.close()
    with tarfile.open(bundle) as archive:
        names = archive.getnames()
        contents = b"".join(
            archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        )
    prefix = "vmcert-support-contoso-vm"
    assert {f"{prefix}/offer.toml", f"{prefix}/status.json", f"{prefix}/history.json"} <= set(names)
    assert f"{prefix}/request-1/validate_prereqs/stage.log" in names
    assert b"SUPERSECRETKEY123" not in contents and b'connection_string = "***"' in contents
    assert number == 1
    mails = pipeline.store.mails("contoso-vm")
    assert mails[-1].subject == "[vmcert] support request 1 for contoso-vm"
    assert mails[-1].sent_at is not None


def test_outbox_mailer_writes_whole_files(tmp_path: Path) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = "hello"
    message["X-Vmcert-Offer"] = "contoso-vm"
    message.set_content("body")
    OutboxMailer(tmp_path / "outbox").send(message)
    (written,) = (tmp_path / "outbox").iterdir()
    assert written.name.endswith("-contoso-vm.eml")
    assert email.message_from_bytes(written.read_bytes())["Subject"] == "hello"


def test_certification_reports_a_missing_image_as_cpp_does(
    settings: PublishSettings, offer_dir: Path
) -> None:
    from harness.publish.adapters import CoreCertifier, CoreReplicator
    from harness.publish.stages.certification import CertificationStage
    from harness.publish.stages.provisioning import ProvisioningStage

    (offer_dir / "images/contoso-standard-1.0.0.vhd").unlink()
    ctx = _context(settings, offer_dir / "offer.toml", {})
    outcome = CertificationStage(CoreCertifier()).run(ctx)
    assert getattr(outcome, "message", "").startswith(
        "No virtual machine image was found for the plan standard (version 1.0.0): "
    )
    # Provisioning replicates only what Certification approved (a report per image).
    refused = ProvisioningStage(CoreReplicator()).run(ctx)
    assert "no certification report approves" in getattr(refused, "message", "")
