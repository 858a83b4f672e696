"""``vmcert certify --replicate``: certified images reach every region, others never leave."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.model import Result, Status
from harness.cli.certify_replication import ReplicationStep
from harness.errors import InputError
from harness.replication.azurite import Azurite
from harness.replication.blob import blob_client
from images.extents import sparse_digest
from reports.model import ImageReport, RunReport
from tests.test_replication import make_image, write_config

REGIONS = ["eastus", "westeurope"]


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with Azurite(regions=REGIONS) as instance:
        yield instance


@pytest.fixture
def config(azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VMCERT_CACHE_DIR", str(tmp_path / "cache"))
    env: dict[str, str] = {}
    path = write_config(tmp_path / "storage.toml", azurite, REGIONS, env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return path


def _image_report(path: Path, status: Status) -> ImageReport:
    result = Result("bash_history", "Bash history", "accounts", status, "0", "1024", "", "")
    return ImageReport(
        path=str(path),
        format="vhd-fixed",
        sparse_digest=sparse_digest(path),
        online_results=[result],
    )


def _run(*images: ImageReport) -> RunReport:
    return RunReport(
        vmcert_version="test", started="2026-11-24T00:00:00Z", finished="", images=list(images)
    )


def _blob_names(azurite: Azurite, region: str) -> list[str]:
    container = blob_client(azurite.region(region), "x").container_name
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string(region))
    return [b.name for b in service.get_container_client(container).list_blobs()]


def test_only_certified_images_are_replicated_and_verified(
    azurite: Azurite, config: Path, tmp_path: Path
) -> None:
    good = make_image(tmp_path / "good.vhd", seed=3)
    bad = make_image(tmp_path / "bad.vhd", seed=4)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    step = ReplicationStep(REGIONS, config=config, strategy="stream")

    step(_run(_image_report(good, Status.PASS), _image_report(bad, Status.FAIL)), run_dir)

    approval = json.loads((run_dir / "approval.json").read_text())
    assert [image["verdict"] for image in approval["images"]] == ["certified", "failed"]
    assert len(step.records) == 1 and step.ok
    record = json.loads((run_dir / "replication-1-good.json").read_text())
    assert {r["region"]: r["state"] for r in record["regions"]} == dict.fromkeys(
        REGIONS, "replicated"
    )
    assert not (run_dir / "replication-2-bad.json").exists()
    for region in REGIONS:
        names = _blob_names(azurite, region)
        assert any(name.startswith("good/") for name in names), names
        assert not any(name.startswith("bad/") for name in names), names


def test_an_image_changed_after_certification_is_refused(config: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "late.vhd", seed=5)
    report = _image_report(image, Status.PASS)
    with open(image, "r+b") as fh:  # the file changes between certification and replication
        fh.write(b"tampered")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(InputError, match="digest"):
        ReplicationStep(REGIONS, config=config, strategy="stream")(_run(report), run_dir)
