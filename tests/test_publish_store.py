"""The store on SQLite and on PostgreSQL: migrations, one running request per offer (also under
concurrent Publish), claims and leases, history without loss or doubles, cancel, the catalog.

These tests drive the store's API directly: a stage's outcome is recorded with ``finish`` to test
the transitions the store applies (no stage runs here; the stages have their own tests)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from harness.publish.errors import PublishRefused
from harness.publish.history import What
from harness.publish.model import CancelWindow, RequestStatus, Stage, StepStatus
from harness.publish.offer import Offer, load_offer
from harness.publish.outcome import Complete, Failed, RetryLater
from harness.publish.settings import PublishSettings
from harness.publish.store import Store, open_store
from harness.publish.store.tables import Base

pytest_plugins = ("tests.publish_fixtures",)


@pytest.fixture
def store(settings: PublishSettings) -> Store:
    return open_store(settings)


@pytest.fixture
def offer(offer_dir: Path) -> Offer:
    return load_offer(offer_dir / "offer.toml").offer


def _complete(store: Store, stage: Stage, owner: str = "tester") -> None:
    """Record ``stage`` as complete (claim it, finish it) - a store transition, nothing runs."""
    (run_id,) = store.due_runs()
    claim = store.claim(run_id, owner)
    assert claim is not None and claim.stage is stage
    assert store.finish(claim, Complete((f"{stage.value} done",)))


def _to_signoff(store: Store, offer: Offer) -> None:
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    for stage in (
        Stage.VALIDATE,
        Stage.CERTIFICATION,
        Stage.PROVISIONING,
        Stage.PACKAGING,
        Stage.PREVIEW,
    ):
        _complete(store, stage)


def test_migrations_create_exactly_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == "0002"


def test_publish_starts_a_request_and_a_second_is_refused(store: Store, offer: Offer) -> None:
    request = store.publish(offer, actor="alice", emails=["p@contoso.example"])
    assert (request.number, request.status, request.stage) == (
        1,
        RequestStatus.RUNNING,
        Stage.VALIDATE,
    )
    assert request.stage_view(Stage.VALIDATE).status is StepStatus.IN_PROGRESS
    with pytest.raises(PublishRefused, match="already running"):
        store.publish(offer, actor="bob")
    assert [e.what for e in store.history(offer.id)] == [What.SUBMITTED, What.STAGE_STARTED]


def test_concurrent_publish_lets_exactly_one_through(store: Store, offer: Offer) -> None:
    barrier = threading.Barrier(6)
    results: list[str] = []

    def publish(who: str) -> None:
        barrier.wait()
        try:
            store.publish(offer, actor=who)
            results.append("ok")
        except PublishRefused as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=publish, args=(f"user{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 1, results
    assert all("already running" in r for r in results if r != "ok")
    submitted = [e for e in store.history(offer.id) if e.what is What.SUBMITTED]
    assert len(submitted) == 1


def test_a_claim_is_exclusive_and_a_lost_claim_writes_nothing(
    settings: PublishSettings, offer: Offer
) -> None:
    store = open_store(replace(settings, lease_seconds=0.3))
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    (run_id,) = store.due_runs()
    first = store.claim(run_id, "host-a:1:a")
    assert first is not None and store.claim(run_id, "host-b:2:b") is None
    assert store.due_runs() == []  # held: not due for anyone else
    import time

    time.sleep(0.5)  # the lease runs out (the holder died)
    second = store.claim(run_id, "host-b:2:b")
    assert second is not None and second.attempt == 2
    assert not store.finish(first, Failed("late outcome from a vanished worker"))
    assert store.finish(second, Complete(("fine",)))
    request = store.request(offer.id)
    assert request is not None and request.stage is Stage.CERTIFICATION
    assert request.stage_view(Stage.VALIDATE).status is StepStatus.COMPLETE
    whats = [(e.what, e.stage) for e in store.history(offer.id)]
    assert whats == [
        (What.SUBMITTED, None),
        (What.STAGE_STARTED, "validate_prereqs"),
        (What.STAGE_RESUMED, "validate_prereqs"),
        (What.STAGE_COMPLETED, "validate_prereqs"),
        (What.STAGE_STARTED, "certification"),
    ]


def test_dead_owner_releases_at_once(store: Store, offer: Offer) -> None:
    store.publish(offer, actor="alice")
    (run_id,) = store.due_runs()
    assert store.claim(run_id, "gone:1:x") is not None
    assert store.due_runs() == []
    assert store.release_dead(lambda owner: owner == "gone:1:x") == 1
    assert store.due_runs() == [run_id]


def test_failure_stops_with_the_message_mails_and_republish_restarts_at_step_one(
    store: Store, offer: Offer
) -> None:
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    _complete(store, Stage.VALIDATE)
    (run_id,) = store.due_runs()
    claim = store.claim(run_id, "w")
    assert claim is not None
    store.finish(claim, Failed("Certification failed: 2 failing checks", details=("a", "b")))
    request = store.request(offer.id)
    assert request is not None
    assert (request.status, request.stage) == (RequestStatus.FAILED, Stage.CERTIFICATION)
    certification = request.stage_view(Stage.CERTIFICATION)
    assert certification.status is StepStatus.BLOCKED
    assert [m.text for m in certification.messages] == [
        "Certification failed: 2 failing checks",
        "a",
        "b",
    ]
    (mail,) = store.mails(offer.id)
    assert mail.subject == "[vmcert] contoso-vm: Certification failed"
    again = store.publish(offer, actor="alice")
    assert (again.number, again.stage) == (2, Stage.VALIDATE)
    assert store.offer(offer.id).request == 2


def test_retry_later_gives_up_after_the_limit(store: Store, offer: Offer) -> None:
    store.publish(offer, actor="alice")
    for attempt in range(1, store.settings.retry_limit + 2):
        import time

        deadline = time.monotonic() + 5
        while not store.due_runs() and time.monotonic() < deadline:
            time.sleep(0.05)
        (run_id,) = store.due_runs()
        claim = store.claim(run_id, "w")
        assert claim is not None and claim.attempt == attempt
        store.finish(claim, RetryLater("storage unreachable"))
    request = store.request(offer.id)
    assert request is not None and request.status is RequestStatus.FAILED
    assert "storage unreachable (gave up after 2 attempts)" in request.error


def test_cancel_refused_before_signoff_accepted_at_it(store: Store, offer: Offer) -> None:
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    with pytest.raises(PublishRefused, match="only once the request reaches Publisher signoff"):
        store.cancel(offer.id, actor="alice")
    for stage in (
        Stage.VALIDATE,
        Stage.CERTIFICATION,
        Stage.PROVISIONING,
        Stage.PACKAGING,
        Stage.PREVIEW,
    ):
        _complete(store, stage)
    waiting = store.request(offer.id)
    assert waiting is not None and waiting.status is RequestStatus.WAITING
    assert waiting.stage_view(Stage.SIGNOFF).status is StepStatus.WAITING
    canceled = store.cancel(offer.id, actor="alice")
    assert canceled.status is RequestStatus.CANCELED and canceled.stage is None
    assert {s.status for s in canceled.stages} == {StepStatus.NOT_STARTED}
    assert store.history(offer.id)[-1].what is What.CANCELED
    assert store.history(offer.id)[-1].who == "alice"
    assert store.publish(offer, actor="alice").stage is Stage.VALIDATE


def test_cancel_window_before_signoff(settings: PublishSettings, offer: Offer) -> None:
    store = open_store(replace(settings, cancel_window=CancelWindow.BEFORE_SIGNOFF))
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    (run_id,) = store.due_runs()
    claim = store.claim(run_id, "w")
    assert claim is not None
    canceled = store.cancel(offer.id, actor="alice")
    assert canceled.stage_view(Stage.VALIDATE).status is StepStatus.CANCELED
    assert not store.heartbeat(claim)  # the running stage learns it should stop
    assert not store.finish(claim, Complete())  # and its outcome is dropped


def test_go_live_lists_the_offer_and_the_catalog_respects_the_preview_audience(
    store: Store, offer: Offer
) -> None:
    audience = offer.preview_subscriptions[0]
    assert store.catalog(audience) == []
    _to_signoff(store, offer)
    assert [o.offer_id for o in store.catalog(audience)] == [offer.id]
    assert store.catalog("11111111-1111-1111-1111-111111111111") == []
    assert store.catalog(None) == []
    with pytest.raises(PublishRefused, match="already running"):
        store.publish(offer, actor="bob")
    store.go_live(offer.id, actor="alice")
    _complete(store, Stage.LIVE)
    request = store.request(offer.id)
    assert request is not None and request.status is RequestStatus.SUCCEEDED
    assert [o.offer_id for o in store.catalog(None)] == [offer.id]
    assert store.offer(offer.id).status.value == "live"
    whats = [e.what for e in store.history(offer.id)]
    assert whats.count(What.SIGNED_OFF) == 1 and whats[-1] is What.LIVE
    keys = [(e.what, e.stage, e.request) for e in store.history(offer.id)]
    assert len(keys) == len(set(keys)), "no event doubled"
    subjects = [m.subject for m in store.mails(offer.id)]
    assert subjects == ["[vmcert] contoso-vm: available in preview", "[vmcert] contoso-vm: live"]


def test_offer_without_usable_id_is_refused(store: Store) -> None:
    with pytest.raises(PublishRefused, match=r"no usable offer\.id"):
        store.publish(Offer(), actor="alice")
