"""The store's views behind All offers, on SQLite and PostgreSQL: one query whatever the number of
offers (no query per offer), the same summaries as each offer's own newest request gives, and a
new offer created without publishing (the console's New offer)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from harness.publish.errors import PublishRefused
from harness.publish.history import What
from harness.publish.model import OfferStatus, Stage, offer_status
from harness.publish.outcome import WaitForInput
from harness.publish.settings import PublishSettings
from harness.publish.store import Store, open_store
from tests.test_web_fixtures import complete, fail, make_offer, to_signoff

pytest_plugins = ("tests.publish_fixtures",)


@pytest.fixture
def store(settings: PublishSettings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.close()


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    """The SQL statements the store sends while the block runs."""
    statements: list[str] = []

    def record(_conn: Connection, _cursor: object, sql: str, *_args: object) -> None:
        statements.append(sql)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def fill(store: Store, root: Path, prefix: str) -> None:
    """One offer in each state the summary distinguishes, the last one republished."""
    never = make_offer(root, f"{prefix}-never", "Never published")
    store.create_offer(never)
    running = make_offer(root, f"{prefix}-running", "Running")
    store.publish(running, actor="alice", emails=["p@contoso.example"])
    complete(store, Stage.VALIDATE)
    (run_id,) = store.due_runs()  # Certification runs, waiting for something (not due)
    claim = store.claim(run_id, "web-test")
    assert claim is not None and store.finish(claim, WaitForInput("waiting for the VM"))
    failed = make_offer(root, f"{prefix}-failed", "Failed")
    store.publish(failed, actor="alice", emails=["p@contoso.example"])
    fail(store, Stage.VALIDATE, "listing.summary: too long")
    signoff = make_offer(root, f"{prefix}-signoff", "At sign-off")
    to_signoff(store, signoff)
    canceled = make_offer(root, f"{prefix}-canceled", "Canceled")
    to_signoff(store, canceled)
    store.cancel(canceled.id, actor="alice")
    live = make_offer(root, f"{prefix}-live", "Live")
    to_signoff(store, live)
    store.go_live(live.id, actor="alice")
    complete(store, Stage.LIVE)
    to_signoff(store, live)  # request 2 of a live offer, at sign-off again


def test_all_offers_is_one_query_and_matches_each_offers_newest_request(
    store: Store, tmp_path: Path
) -> None:
    fill(store, tmp_path, "a")
    with counted(store) as few:
        small = store.offers()
    fill(store, tmp_path, "b")
    with counted(store) as many:
        large = store.offers()
    assert len(selects(many)) == 1, many
    assert len(selects(few)) == 1, few
    assert len(small) == 6 and len(large) == 12

    by_id = {o.offer_id: o for o in large}
    assert set(by_id) == {f"{p}-{s}" for p in "ab" for s in (
        "never", "running", "failed", "signoff", "canceled", "live")}  # fmt: skip
    for offer_id, summary in by_id.items():
        latest = store.request(offer_id)
        assert store.offer(offer_id) == summary
        if latest is None:
            assert summary.status is OfferStatus.NEVER_PUBLISHED
            assert summary.request is None and summary.stage is None
            continue
        assert summary.request == latest.number
        assert summary.stage == latest.stage
        assert summary.status is offer_status(latest.status, latest.stage)
        assert summary.updated_at >= latest.updated_at
    assert by_id["a-never"].status is OfferStatus.NEVER_PUBLISHED
    assert by_id["a-running"].stage is Stage.CERTIFICATION
    assert by_id["a-failed"].status is OfferStatus.ATTENTION
    assert by_id["a-canceled"].status is OfferStatus.CANCELED
    assert by_id["a-live"].request == 2 and by_id["a-live"].listed
    assert by_id["a-signoff"].stage is Stage.SIGNOFF and not by_id["a-signoff"].listed
    # The catalog reads the same rows: the live offer (listed), nothing in preview without a
    # subscription of its preview audience.
    assert {o.offer_id for o in store.catalog(None)} == {"a-live", "b-live"}
    audience = "00000000-0000-0000-0000-000000000000"
    assert {o.offer_id for o in store.catalog(audience)} == {
        "a-live",
        "b-live",
        "a-signoff",
        "b-signoff",
    }


def test_create_offer_records_a_never_published_offer_once(store: Store, tmp_path: Path) -> None:
    offer = make_offer(tmp_path, "fresh-offer", "Fresh <b>offer</b>")
    created = store.create_offer(offer, actor="alice")
    assert created.status is OfferStatus.NEVER_PUBLISHED and created.request is None
    assert store.offer_text("fresh-offer") == (offer.text, str(offer.source))
    (event,) = store.history("fresh-offer")
    assert (event.what, event.who, event.request, event.stage) == (
        What.CREATED,
        "alice",
        None,
        None,
    )
    with pytest.raises(PublishRefused, match="already exists"):
        store.create_offer(offer)
    assert len(store.history("fresh-offer")) == 1  # the refused second one records nothing
    # It publishes like any offer: request 1.
    assert store.publish(offer, actor="alice", emails=["p@contoso.example"]).number == 1


def test_a_page_of_all_offers_is_filtered_ordered_and_paged_by_the_database(
    store: Store, tmp_path: Path
) -> None:
    fill(store, tmp_path, "a")
    fill(store, tmp_path, "b")
    odd = make_offer(tmp_path, "c-odd", "100% Under_score VM")
    store.create_offer(odd)
    # Beyond ASCII: SQLite's lower() would not fold these (nor PostgreSQL's in the C locale).
    store.create_offer(make_offer(tmp_path, "c-nordic", "ÆRØSKØBING Straße Ωmega VM"))
    live = make_offer(tmp_path, "c-live", "Live and staying live")
    to_signoff(store, live)
    store.go_live(live.id, actor="alice")
    complete(store, Stage.LIVE)
    everything = store.offers()

    def reference(text: str, status: OfferStatus | None) -> list[str]:
        """What the console showed when it filtered and sorted in Python."""
        needle = text.casefold()
        kept = [
            o
            for o in everything
            if (status is None or o.status is status)
            and (not needle or needle in o.name.casefold() or needle in o.offer_id.casefold())
        ]
        kept.sort(key=lambda o: o.offer_id)
        kept.sort(key=lambda o: o.updated_at, reverse=True)
        return [o.offer_id for o in kept]

    for status in (None, *OfferStatus):
        for text in (
            "",
            "A-",
            "live",
            "% u",
            "_",
            "never published",
            "zzz",
            "ærøskøbing",
            "STRASSE",
            "ωMEGA",
        ):
            expected = reference(text, status)
            with counted(store) as statements:
                shown, total, page = store.offers_page(query=text, status=status, size=100)
            assert [o.offer_id for o in shown] == expected, (text, status)
            if text in ("ærøskøbing", "STRASSE", "ωMEGA") and status is None:
                assert expected == ["c-nordic"]  # the reference finds it: so must the SQL
            assert total == len(expected) and page == 1
            assert len(selects(statements)) == 2
            assert all(o == store.offer(o.offer_id) for o in shown)
    # Every status is produced by the SQL as by offer_status (the fill has all of them).
    assert {o.status for o in everything} == set(OfferStatus)
    # Paging: slices of the same order; a page past the end shows the last one.
    order = reference("", None)
    first, total, _ = store.offers_page(size=5)
    second, _, page = store.offers_page(size=5, page=2)
    last, _, clamped = store.offers_page(size=5, page=99)
    assert [o.offer_id for o in first + second] == order[:10] and page == 2
    assert total == 15 and clamped == 3 and [o.offer_id for o in last] == order[10:]


def test_the_search_column_migration_fills_offers_recorded_before_it(
    settings: PublishSettings,
) -> None:
    """A database at revision 0001 with an offer whose name is beyond ASCII: migrating fills
    its search text, so the search finds it in any case."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from harness.publish.store.database import MIGRATIONS, make_engine

    engine = make_engine(settings.database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO offers (id, publisher, name, offer_text, source_path, "
                "preview_audience, listed, created_at, updated_at) VALUES ('old-vm', 'contoso', "
                "'ÉCOLE Ærø VM', '', '', '', false, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    store = open_store(settings)
    try:
        for query in ("école ærø", "ÉCOLE", "OLD-VM"):
            shown, total, _ = store.offers_page(query=query)
            assert [o.offer_id for o in shown] == ["old-vm"] and total == 1, query
        assert store.offers_page(query="ecole")[1] == 0  # folding case, not accents
    finally:
        store.close()
