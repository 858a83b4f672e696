"""The stages' adapters on the real core, without booting: Certification's verdict for an
unusable image, Provisioning on the embedded Azurite (replicas verified, extents from the
certification run, unreachable storage), Preview's read-back and its digest check.

The boots (certification of the test images, the preview deployment) are in
``test_publish_e2e.py``."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import Interrupted
from harness.publish.adapters import (
    EXTENTS_FILE,
    CoreCertifier,
    CoreReplicator,
    image_data,
    read_back,
    reap_killed_boots,
    storage_for,
    write_extents,
)
from harness.publish.core import PlanImage, ReplicationFailed
from harness.replication import azurite, scan_image
from harness.replication.blob import blob_client
from images.candidate import load_candidate
from images.vhd import build_footer

MiB = 1024 * 1024
REGIONS = ("eastus", "westeurope")


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private state directory: the kept-alive Azurite started here is stopped at the end."""
    monkeypatch.setenv("VMCERT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("VMCERT_STORAGE_CONFIG", raising=False)
    try:
        yield tmp_path / "state"
    finally:
        azurite.down()


def _image(path: Path, *, seed: int = 1, size_mib: int = 24) -> Path:
    """A fixed VHD (N MiB + footer) with a few random extents and holes."""
    rng = random.Random(seed)
    size = size_mib * MiB
    with open(path, "wb") as handle:
        handle.truncate(size)
        for offset in (0, 5 * MiB + 4096, 17 * MiB):
            handle.seek(offset)
            handle.write(rng.randbytes(MiB + 512))
        handle.seek(size)
        handle.write(build_footer(size))
    return path


def _approved(image: Path, directory: Path) -> Path:
    """What Certification leaves for an image it certified: the per-image JSON report and the
    candidate's extents next to it."""
    candidate = load_candidate(image)
    directory.mkdir(parents=True)
    report = directory / "report.json"
    entry: dict[str, object] = {
        "image": {"path": str(image), "sparse_digest": candidate.sparse_digest}
    }
    document = {"schema": "vmcert-report", "schema_version": 1, "images": [entry]}
    entry["verdict"] = "certified"
    report.write_text(json.dumps(document))
    write_extents(directory / EXTENTS_FILE, candidate)
    return report


def test_certifier_judges_an_unusable_image_as_failing_with_its_reports(tmp_path: Path) -> None:
    image = tmp_path / "zeros.vhd"
    image.write_bytes(b"\0" * 4096)
    verdict = CoreCertifier().certify(
        [PlanImage("standard", "1.0.0", image, offer="contoso-vm")],
        tmp_path / "run",
        threading.Event(),
    )
    assert not verdict.passed and verdict.infra_error is None
    (line,) = verdict.failing
    assert line.startswith(f"plan standard 1.0.0: {image}: ")
    kinds = {artifact.kind for artifact in verdict.reports}
    assert {"json", "junit", "html", "report-standard-1.0.0"} <= kinds
    assert verdict.approvals == {}  # nothing to replicate


def test_certifier_starts_a_rerun_from_an_empty_run_directory(tmp_path: Path) -> None:
    image = tmp_path / "zeros.vhd"
    image.write_bytes(b"\0" * 4096)
    stale = tmp_path / "run" / "1-zeros.vhd" / "report.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an attempt that died")
    CoreCertifier().certify(
        [PlanImage("standard", "1.0.0", image)], tmp_path / "run", threading.Event()
    )
    assert json.loads(stale.read_text())["schema"] == "vmcert-report"


def test_replication_takes_the_certified_extents_and_digest(tmp_path: Path) -> None:
    image = _image(tmp_path / "disk.vhd")
    report = _approved(image, tmp_path / "run" / "1-disk.vhd")
    plan_image = PlanImage("standard", "1.0.0", image)
    given = image_data(plan_image, report)
    scanned = scan_image(image)
    assert (given.path, given.extents, given.sparse_digest) == (
        scanned.path,
        scanned.extents,
        scanned.sparse_digest,
    )
    # what replication uses is the record, not a new read of the image
    record = report.parent / EXTENTS_FILE
    data = json.loads(record.read_text())
    data["sparse_digest"] = "0" * 64
    record.write_text(json.dumps(data))
    assert image_data(plan_image, report).sparse_digest == "0" * 64
    record.unlink()
    assert image_data(plan_image, report).sparse_digest == scanned.sparse_digest


def test_provisioning_replicates_to_the_kept_alive_azurite_and_preview_reads_it_back(
    tmp_path: Path, state_dir: Path
) -> None:
    image = _image(tmp_path / "disk.vhd", seed=2)
    report = _approved(image, tmp_path / "run" / "1-disk.vhd")
    plan_image = PlanImage("standard", "1.0.0", image, offer="contoso-vm")
    work = tmp_path / "provisioning"
    work.mkdir()
    replicas = CoreReplicator().replicate(
        [plan_image], REGIONS, None, work, threading.Event(), {image: report}
    )
    digest = scan_image(image).sparse_digest
    assert [r.region for r in replicas] == list(REGIONS)
    assert all(r.verified and r.digest == digest for r in replicas)
    assert replicas[0].url.endswith("/vhds/contoso-vm/standard/1.0.0.vhd")
    (record,) = work.glob("replication-1-standard-1.0.0.json")
    assert json.loads(record.read_text())["approval"]["approved"] is True
    assert azurite.running() is not None  # still there for Preview

    local = tmp_path / "preview.vhd"
    assert read_back(replicas[1], None, local) is None
    assert scan_image(local).sparse_digest == digest
    assert local.stat().st_size == image.stat().st_size

    # a replica altered after provisioning is not deployed
    (region,) = storage_for(None, ["eastus"]).select(["eastus"])
    blob = blob_client(region, "contoso-vm/standard/1.0.0.vhd")
    blob.upload_page(b"\x01" * 512, offset=8 * MiB, length=512)
    problem = read_back(replicas[0], None, local)
    assert problem is not None
    assert problem.startswith("the replica in eastus differs from the certified image")


def test_unapproved_image_is_not_replicated_nor_retried(tmp_path: Path, state_dir: Path) -> None:
    image = _image(tmp_path / "disk.vhd", seed=3)
    report = _approved(image, tmp_path / "run" / "1-disk.vhd")
    data = json.loads(report.read_text())
    data["images"][0]["verdict"] = "failed"
    report.write_text(json.dumps(data))
    with pytest.raises(ReplicationFailed) as raised:
        CoreReplicator().replicate(
            [PlanImage("standard", "1.0.0", image)],
            REGIONS,
            None,
            tmp_path,
            threading.Event(),
            {image: report},
        )
    assert not raised.value.retry
    assert "verdict is 'failed', not 'certified'" in str(raised.value)


def test_unreachable_storage_fails_at_once_with_its_cause_and_is_retried(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "storage.toml"
    config.write_text(
        "[storage]\n"
        f'[storage.regions.eastus]\naccount_url = "http://127.0.0.1:{port}/vmceastus"\n'
        'account_key = "c2VjcmV0LWtleS1mb3ItdGVzdHM="\n'
    )
    image = _image(tmp_path / "disk.vhd", seed=4)
    report = _approved(image, tmp_path / "run" / "1-disk.vhd")
    started = time.monotonic()
    with pytest.raises(ReplicationFailed) as raised:
        CoreReplicator().replicate(
            [PlanImage("standard", "1.0.0", image)],
            ["eastus"],
            config,
            tmp_path,
            threading.Event(),
            {image: report},
        )
    assert time.monotonic() - started < 15  # the SDK alone retries for ~90 s per region
    assert raised.value.retry
    assert str(raised.value) == (
        f"storage unreachable: eastus (http://127.0.0.1:{port}/vmceastus): connection refused"
    )


def test_a_region_missing_from_the_storage_configuration_is_for_the_publisher_to_fix(
    tmp_path: Path,
) -> None:
    config = tmp_path / "storage.toml"
    config.write_text(
        '[storage]\n[storage.regions.eastus]\naccount_url = "http://127.0.0.1:9/vmceastus"\n'
    )
    with pytest.raises(ReplicationFailed) as raised:
        CoreReplicator().replicate(
            [], ["eastus", "westeurope"], config, tmp_path, threading.Event(), {}
        )
    assert not raised.value.retry
    assert "region(s) westeurope not configured" in str(raised.value)


def test_a_canceled_certification_stops_and_still_leaves_its_reports(tmp_path: Path) -> None:
    image = _image(tmp_path / "disk.vhd", seed=5)
    canceled = threading.Event()
    canceled.set()
    with pytest.raises(Interrupted):
        CoreCertifier().certify([PlanImage("standard", "1.0.0", image)], tmp_path / "run", canceled)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["images"][0]["verdict"] == "infra_error"  # interrupted: no verdict


def test_a_killed_attempts_vm_and_qmp_directory_are_reaped_on_rerun(tmp_path: Path) -> None:
    """What a SIGKILLed worker can leave: a QEMU still running on its boot directory (here a
    process named like QEMU whose command line names the overlay) and the QMP socket directory
    outside the run directory. A re-run reaps both; other processes are left alone."""
    boot_dir = tmp_path / "run" / "image" / "qemu-abc"
    boot_dir.mkdir(parents=True)
    qmp_dir = Path(tempfile.mkdtemp(prefix="vmcert-qmp-"))
    (qmp_dir / "qmp.sock").touch()
    (boot_dir / "qemu.cmdline").write_text(
        f"qemu-system-x86_64 -drive file={boot_dir}/overlay.qcow2,if=virtio "
        f"-qmp unix:{qmp_dir}/qmp.sock,server=on,wait=off\n"
    )
    sleeper = "import time; time.sleep(120)"
    stray = subprocess.Popen(
        ["qemu-system-x86_64", "-c", sleeper, f"file={boot_dir}/overlay.qcow2"],
        executable=sys.executable,
    )
    bystander = subprocess.Popen(
        ["qemu-system-x86_64", "-c", sleeper, f"file={tmp_path}/other/overlay.qcow2"],
        executable=sys.executable,
    )
    try:
        deadline = time.monotonic() + 10  # until the strays' command lines are readable
        while b"overlay" not in Path(f"/proc/{stray.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        reaped = reap_killed_boots(tmp_path / "run")
        assert stray.wait(10) == -9
        assert bystander.poll() is None
        assert not qmp_dir.exists()
        assert reaped == [f"QEMU pid {stray.pid}", str(qmp_dir)]
        assert reap_killed_boots(tmp_path / "run") == []  # nothing twice
    finally:
        for process in (stray, bystander):
            if process.poll() is None:
                os.kill(process.pid, 9)
                process.wait()
