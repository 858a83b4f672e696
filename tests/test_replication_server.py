"""The ``server`` strategy's copy polling against a local fake of the Copy Blob API."""

from __future__ import annotations

import base64

import pytest

from harness.replication import StrategyFailed, server_copy
from tests.fake_copy_api import FakeCopyService

KEY = base64.b64encode(b"k" * 32).decode()
SOURCE = "http://127.0.0.1:9/src/vhds/img.vhd?sv=2025-11-05&sp=r&sig=c2VjcmV0c2ln"


def client(fake: FakeCopyService, name: str):  # type: ignore[no-untyped-def]
    from azure.storage.blob import BlobClient

    return BlobClient.from_blob_url(
        f"{fake.url}/dst/vhds/{name}",
        credential={"account_name": "dst", "account_key": KEY},
        api_version="2025-11-05",
        retry_total=0,
    )


@pytest.fixture
def fake() -> FakeCopyService:
    with FakeCopyService() as service:
        yield service  # type: ignore[misc]


def test_pending_then_success(fake: FakeCopyService) -> None:
    outcome = server_copy(client(fake, "success-3"), SOURCE, deadline_s=30, poll_s=0.01)
    assert outcome.status == "success"
    assert outcome.polls == 3
    copy = fake.copies["/dst/vhds/success-3"]
    assert copy.source == SOURCE  # the SAS URL went to the service unchanged
    assert not copy.aborted_by_client


def test_pending_then_failed_carries_description(fake: FakeCopyService) -> None:
    outcome = server_copy(client(fake, "failed-2"), SOURCE, deadline_s=30, poll_s=0.01)
    assert outcome.status == "failed"
    assert outcome.polls == 2
    assert outcome.description and "Copy failed on the source" in outcome.description


def test_pending_then_aborted(fake: FakeCopyService) -> None:
    outcome = server_copy(client(fake, "aborted-1"), SOURCE, deadline_s=30, poll_s=0.01)
    assert outcome.status == "aborted"
    assert not fake.copies["/dst/vhds/aborted-1"].aborted_by_client


def test_deadline_aborts_the_pending_copy(fake: FakeCopyService) -> None:
    outcome = server_copy(client(fake, "stuck"), SOURCE, deadline_s=0.3, poll_s=0.02)
    assert outcome.status == "deadline"
    copy = fake.copies["/dst/vhds/stuck"]
    assert copy.aborted_by_client, "a copy past its deadline must be aborted on the service"
    assert copy.status == "aborted"
    assert outcome.polls >= 1
    assert any("comp=copy" in path for method, path in fake.requests if method == "PUT")


def test_refused_copy_raises_strategy_failed_without_the_sas(fake: FakeCopyService) -> None:
    with pytest.raises(StrategyFailed) as info:
        server_copy(client(fake, "refused"), SOURCE, deadline_s=30, poll_s=0.01)
    message = str(info.value)
    assert "CannotVerifyCopySource" in message
    assert "c2VjcmV0c2ln" not in message
