"""Publish → Live on the real core: QEMU boots of the cached test images, the embedded Azurite.

One sequence shares its boots (three under TCG): the defective image fails Certification (a
failure e-mail naming the failing checks, the HTML report attached); the fixed image,
republished from step 1, is certified, replicated to two regions of the embedded Azurite, read
back and booted for Preview, and goes Live. Then Provisioning, run again against the real
certification of that request, fails on storage that does not answer, with its message.

Run under the shared lock: ``flock /tmp/vmcert-e2e.lock python -m pytest -q
tests/test_publish_e2e.py``.
"""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from email.message import Message
from pathlib import Path

import pytest

from harness.publish.adapters import CoreReplicator, default_stages
from harness.publish.model import RequestStatus, Stage, StepStatus
from harness.publish.offer import load_offer
from harness.publish.outcome import RetryLater
from harness.publish.pipeline import Pipeline
from harness.publish.settings import PublishSettings, load_settings
from harness.publish.stages.base import StageContext, StageLog
from harness.publish.stages.provisioning import ProvisioningStage
from harness.publish.template import write_template
from harness.publish.views import RequestView
from harness.replication import azurite

pytestmark = pytest.mark.e2e

OFFER = "contoso-vm"
SETTLE_S = 2400.0
"""Bound for one request to reach sign-off or its end (TCG boots on a loaded machine)."""


@pytest.fixture
def e2e_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PublishSettings]:
    """The embedded defaults (SQLite, outbox, Azurite kept alive) in a temporary data and state
    directory; the Azurite started by Provisioning is stopped at the end."""
    monkeypatch.setenv("VMCERT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VMCERT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("VMCERT_PUBLISH_SETTINGS", raising=False)
    monkeypatch.delenv("VMCERT_PUBLISH_DB", raising=False)
    monkeypatch.delenv("VMCERT_STORAGE_CONFIG", raising=False)
    base = load_settings()
    try:
        yield replace(base, tick_seconds=0.2, retry_delay_seconds=1.0, retry_limit=1)
    finally:
        azurite.down()


def _offer_with(directory: Path, image: Path) -> Path:
    """``vmcert offer init`` output whose plan image is ``image`` (a link, as a user's build
    output would be referenced)."""
    if not directory.exists():
        write_template(directory)
    target = directory / "images" / "contoso-standard-1.0.0.vhd"
    target.parent.mkdir(exist_ok=True)
    target.unlink(missing_ok=True)
    target.symlink_to(image)
    return directory / "offer.toml"


def _why(request: RequestView | None) -> object:
    """What a request's stages say, for an assertion message."""
    if request is None:
        return None
    return [(v.stage.value, v.status.value, [m.text for m in v.messages]) for v in request.stages]


def _mails(settings: PublishSettings) -> list[Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(settings.outbox.glob("*.eml"))]


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and part.get_filename() is None:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text part")


def test_defective_image_fails_then_the_fixed_image_goes_live(
    e2e_settings: PublishSettings, tmp_path: Path, good_image: Path, defective_image: Path
) -> None:
    settings = e2e_settings
    offer_dir = tmp_path / "offer"
    pipeline = Pipeline(settings, default_stages(settings))
    try:
        # -- request 1: the defective image ---------------------------------------------------
        pipeline.publish(_offer_with(offer_dir, defective_image), actor="alice")
        assert pipeline.settle(OFFER, SETTLE_S)
        first = pipeline.store.request(OFFER)
        assert first is not None and first.status is RequestStatus.FAILED, _why(first)
        cert = first.stage_view(Stage.CERTIFICATION)
        assert cert.status is StepStatus.BLOCKED
        messages = [m.text for m in cert.messages]
        assert any(t.startswith("Certification failed: ") for t in messages), messages
        failing = [t for t in messages if t.startswith("plan standard 1.0.0: ")]
        assert failing, messages
        assert first.stage_view(Stage.PROVISIONING).status is StepStatus.NOT_STARTED
        run_dir = settings.work_dir(OFFER, first.number, Stage.CERTIFICATION) / "run"
        for name in ("report.json", "junit.xml", "report.html"):
            assert (run_dir / name).is_file(), name
        report = json.loads((run_dir / "report.json").read_text())
        assert report["images"][0]["verdict"] == "failed"

        (failure,) = [m for m in _mails(settings) if "Certification failed" in str(m["Subject"])]
        body = _text(failure)
        for line in failing:
            assert line.split(": ", 2)[1] in body  # every failing check id is in the e-mail
        attached = [p.get_filename() for p in failure.walk() if p.get_filename()]
        assert attached == ["report.html"]

        # -- request 2: the fixed image, from step 1 to Live -----------------------------------
        second_view = pipeline.publish(_offer_with(offer_dir, good_image), actor="alice")
        assert second_view.number == first.number + 1
        assert pipeline.settle(OFFER, SETTLE_S)
        second = pipeline.store.request(OFFER)
        assert second is not None and second.status is RequestStatus.WAITING, _why(second)
        for stage in (Stage.VALIDATE, Stage.CERTIFICATION, Stage.PROVISIONING, Stage.PACKAGING):
            assert second.stage_view(stage).status is StepStatus.COMPLETE, stage
        preview = second.stage_view(Stage.PREVIEW)
        assert preview.status is StepStatus.COMPLETE
        verified = preview.messages[0].text
        assert "booted and answered SSH (Linux " in verified, verified
        subscriptions = load_offer(offer_dir / "offer.toml").offer.preview_subscriptions
        assert [o.offer_id for o in pipeline.store.catalog(subscriptions[0])] == [OFFER]
        assert pipeline.store.catalog(None) == []

        replicas = json.loads(
            (
                settings.work_dir(OFFER, second.number, Stage.PROVISIONING) / "replicas.json"
            ).read_text()
        )
        assert sorted(r["region"] for r in replicas) == ["eastus", "westeurope"]
        certified = json.loads(
            (
                settings.work_dir(OFFER, second.number, Stage.CERTIFICATION) / "certified.json"
            ).read_text()
        )
        (entry,) = certified.values()
        assert all(r["verified"] and r["digest"] == entry["digest"] for r in replicas)
        assert "AccountKey" not in json.dumps(replicas)

        pipeline.store.go_live(OFFER, actor="alice")
        assert pipeline.settle(OFFER, 120)
        live = pipeline.store.request(OFFER)
        assert live is not None and live.status is RequestStatus.SUCCEEDED
        assert live.stage_view(Stage.LIVE).status is StepStatus.COMPLETE
        assert [o.offer_id for o in pipeline.store.catalog(None)] == [OFFER]
        pipeline.ticker.deliver()
        subjects = [str(m["Subject"]) for m in _mails(settings)]
        assert f"[vmcert] {OFFER}: available in preview" in subjects, subjects
        assert f"[vmcert] {OFFER}: live" in subjects, subjects

        # -- Provisioning against storage that does not answer --------------------------------
        _unreachable_storage_fails_provisioning(settings, offer_dir, live.number)
    finally:
        pipeline.close()


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
