"""Replication against a real Azurite: fan-out, verify, tampering, resume, redaction, approval."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.replication import replicate_image
from harness.replication.azurite import Azurite
from harness.replication.blob import META_DIGEST, META_STATE, blob_client
from harness.replication.config import StorageConfig
from images.extents import data_extents, sparse_digest

REGIONS = ["eastus", "westeurope", "southeastasia"]
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    """One real Azurite (npm, pinned) with an account per region, fresh data dir, SIGTERM stop."""
    with Azurite(regions=[*REGIONS, "westus"]) as instance:
        yield instance


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private resume-journal directory per test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("VMCERT_CACHE_DIR", str(path))
    return path


def make_image(path: Path, *, size_mib: int = 48, seed: int = 1, extents: int = 6) -> Path:
    """A sparse N MiB + 512 (VHD-sized) file with random data extents, not 4 MiB aligned."""
    import random

    rng = random.Random(seed)
    size = size_mib * MiB + 512
    with open(path, "wb") as fh:
        fh.truncate(size)
        fh.seek(0)
        fh.write(rng.randbytes(MiB))
        for i in range(extents):
            offset = (i + 1) * (size_mib * MiB // (extents + 1)) + rng.randrange(0, 64) * 4096
            fh.seek(offset)
            fh.write(rng.randbytes(rng.randrange(256, 3 * 1024) * 1024))
        fh.seek(size - 512)
        fh.write(b"conectix" + rng.randbytes(504))
    return path


def write_config(path: Path, instance: Azurite, regions: list[str], env: dict[str, str]) -> Path:
    """A storage TOML whose connection strings come from environment variables."""
    lines = ["[storage]", 'container = "vhds"', 'blob_name = "{offer}/{plan}/{version}.vhd"', ""]
    for region in regions:
        var = f"VMCERT_TEST_CS_{region.upper()}"
        env[var] = instance.connection_string(region)
        lines += [
            f"[storage.regions.{region}]",
            f'connection_string_env = "{var}"',
            'api_version = "2025-11-05"',
            "",
        ]
    path.write_text("\n".join(lines))
    return path


def vmcert(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (not a TTY: plain progress lines)."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def blob_bytes(instance: Azurite, region: str, name: str) -> tuple[bytes, dict[str, str]]:
    blob = blob_client(instance.region(region), name)
    return blob.download_blob().readall(), dict(blob.get_blob_properties().metadata)


def test_upload_and_fan_out_to_three_regions_verifies(
    azurite: Azurite, tmp_path: Path, cache: Path
) -> None:
    image = make_image(tmp_path / "three.vhd")
    extents = data_extents(image)
    config = StorageConfig(regions={r: azurite.region(r) for r in REGIONS})
    record = replicate_image(image, REGIONS, config=config, force=True, offer="three")

    assert record.ok and record.exit_code == 0
    assert record.approval["forced"] is True
    assert record.source_reads == 1.0, "fan-out must read the image's data once for all regions"
    digest = sparse_digest(image)
    for region in record.regions:
        assert region.state == "replicated", region
        assert region.strategy == "stream"
        assert region.bytes_sent == extents.data_bytes  # only data, nothing twice
        assert region.digest == digest
    # Independent check: the blob's bytes (holes included) equal the file, metadata is set.
    local = image.read_bytes()
    for region in REGIONS:
        content, meta = blob_bytes(azurite, region, record.regions[0].blob)
        assert content == local
        assert meta[META_DIGEST] == digest and meta[META_STATE] == "verified"
    # auto recorded why it did not use the server-side strategies on Azurite.
    reasons = {a["strategy"]: a for a in record.regions[1].attempts}
    assert reasons["server"]["outcome"] == "skipped"
    assert "501" in reasons["pages-from-url"]["reason"]
    assert reasons["stream"]["outcome"] == "served"

    again = replicate_image(image, REGIONS, config=config, force=True, offer="three")
    assert [r.state for r in again.regions] == ["skipped"] * 3
    assert sum(r.bytes_sent for r in again.regions) == 0
    assert again.source_bytes_read == 0


def test_altered_page_is_detected_and_only_that_region_redone(
    azurite: Azurite, tmp_path: Path, cache: Path
) -> None:
    env: dict[str, str] = {"VMCERT_CACHE_DIR": str(cache)}
    cfg = write_config(tmp_path / "storage.toml", azurite, REGIONS, env)
    image = make_image(tmp_path / "alter.vhd", seed=2)
    data_bytes = data_extents(image).data_bytes
    common = [
        str(image),
        "--to",
        ",".join(REGIONS),
        "--config",
        str(cfg),
        "--offer",
        "alter",
        "--force",
    ]
    first = vmcert("replicate", *common, "--record", "r1.json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    blob_name = json.loads((tmp_path / "r1.json").read_text())["regions"][0]["blob"]

    # Tamper with one 512-byte page inside the data of the second region's replica.
    victim = blob_client(azurite.region("westeurope"), blob_name)
    victim.upload_page(b"\xee" * 512, offset=MiB // 2, length=512)

    check = vmcert(
        "replicate", *common, "--verify-only", "--record", "r2.json", env=env, cwd=tmp_path
    )
    assert check.returncode == 1, check.stdout + check.stderr
    states = {r["region"]: r for r in json.loads((tmp_path / "r2.json").read_text())["regions"]}
    assert states["westeurope"]["state"] == "failed"
    assert "digest mismatch" in states["westeurope"]["error"]
    assert states["eastus"]["state"] == states["southeastasia"]["state"] == "verified"
    assert victim.get_blob_properties().metadata[META_STATE] == "failed"

    redo = vmcert("replicate", *common, "--record", "r3.json", env=env, cwd=tmp_path)
    assert redo.returncode == 0, redo.stderr
    regions = {r["region"]: r for r in json.loads((tmp_path / "r3.json").read_text())["regions"]}
    assert regions["eastus"]["state"] == regions["southeastasia"]["state"] == "skipped"
    assert regions["eastus"]["bytes_sent"] == regions["southeastasia"]["bytes_sent"] == 0
    assert regions["westeurope"]["state"] == "replicated"
    assert regions["westeurope"]["bytes_sent"] == data_bytes
    assert blob_bytes(azurite, "westeurope", blob_name)[0] == image.read_bytes()


def test_altered_replica_is_redone_by_a_plain_rerun(
    azurite: Azurite, tmp_path: Path, cache: Path
) -> None:
    """Without --verify-only, the pre-check recomputes the digest and repairs the region itself."""
    image = make_image(tmp_path / "rerun.vhd", seed=3)
    config = StorageConfig(regions={r: azurite.region(r) for r in REGIONS[:2]})
    first = replicate_image(image, REGIONS[:2], config=config, force=True, offer="rerun")
    blob = blob_client(azurite.region(REGIONS[1]), first.regions[1].blob)
    blob.upload_page(b"\x01" * 512, offset=40 * MiB, length=512)  # a page that was a hole
    second = replicate_image(image, REGIONS[:2], config=config, force=True, offer="rerun")
    assert [r.state for r in second.regions] == ["skipped", "replicated"]
    assert "digest mismatch" in (second.regions[1].precheck or "")
    assert blob.download_blob().readall() == image.read_bytes()


def _journal_done(cache: Path) -> int:
    best = 0
    for path in cache.rglob("*.json"):
        try:
            best = max(best, len(json.loads(path.read_text())["done"]))
        except (OSError, ValueError, KeyError):
            continue
    return best


def test_killed_upload_resumes_without_resending(
    azurite: Azurite, tmp_path: Path, cache: Path
) -> None:
    env: dict[str, str] = {"VMCERT_CACHE_DIR": str(cache)}
    cfg = write_config(tmp_path / "storage.toml", azurite, ["westus"], env)
    image = make_image(tmp_path / "kill.vhd", size_mib=128, seed=4, extents=10)
    data_bytes = data_extents(image).data_bytes
    args = [
        sys.executable, "-m", "harness.cli", "replicate", str(image), "--to", "westus",
        "--config", str(cfg), "--force", "--offer", "kill", "--threads", "2",
    ]  # fmt: skip
    # A rate cap makes the upload last long enough to be killed in the middle.
    proc = subprocess.Popen(
        [*args, "--limit-rate", "4", "--record", "killed.json"],
        env={**os.environ, **env},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while _journal_done(cache) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the upload ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    journaled = _journal_done(cache)
    assert journaled >= 4
    assert not (tmp_path / "killed.json").exists()

    resumed = subprocess.run(
        [*args, "--record", "resumed.json"], env={**os.environ, **env}, cwd=tmp_path,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    region = json.loads((tmp_path / "resumed.json").read_text())["regions"][0]
    assert region["state"] == "replicated"
    assert region["bytes_resumed"] > 0
    assert region["bytes_sent"] < data_bytes, "a resumed upload must send fewer bytes"
    assert region["bytes_sent"] + region["bytes_resumed"] == data_bytes
    assert blob_bytes(azurite, "westus", region["blob"])[0] == image.read_bytes()
    assert _journal_done(cache) == 0, "a verified upload leaves no journal behind"


def test_server_strategy_on_azurite_and_secrets_never_printed(
    azurite: Azurite, tmp_path: Path, cache: Path
) -> None:
    """Keys and SAS signatures appear in no output: stdout, stderr, record, log."""
    env: dict[str, str] = {"VMCERT_CACHE_DIR": str(cache)}
    key_src = azurite.keys["vmceastus"]
    key_dst = azurite.keys["vmcwesteurope"]
    bogus_sig = "Zm9vYmFyU2VjcmV0U2lnbmF0dXJlMTIz"
    cfg = tmp_path / "storage.toml"
    cfg.write_text(
        f"""[storage]
api_version = "2025-11-05"
[storage.regions.eastus]
account_url = "{azurite.endpoint}/vmceastus"
account_key = "{key_src}"
[storage.regions.westeurope]
connection_string = "{azurite.connection_string("westeurope")}"
[storage.regions.nowhere]
account_url = "{azurite.endpoint}/vmcnowhere"
sas_token = "sv=2025-11-05&ss=b&srt=sco&sp=rwdlac&se=2031-01-01T00:00:00Z&sig={bogus_sig}"
"""
    )
    image = make_image(tmp_path / "secret.vhd", size_mib=16, seed=5, extents=3)
    run = vmcert(
        "replicate", str(image), "--to", "eastus,westeurope,nowhere", "--config", str(cfg),
        "--strategy", "server", "--force", "--offer", "secret", "--record", "rec.json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    record = json.loads((tmp_path / "rec.json").read_text())
    regions = {r["region"]: r for r in record["regions"]}
    # Azurite serves a small same-instance copy at once (reference P8): server strategy, verified.
    assert regions["westeurope"]["state"] == "replicated"
    assert regions["westeurope"]["strategy"] == "server"
    assert regions["westeurope"]["attempts"][0]["copy_status"] == "success"
    assert regions["nowhere"]["state"] == "failed"
    assert run.returncode == 1
    log = (tmp_path / "rec.log").read_text()
    assert "x-ms-copy-source" in log.lower(), (
        "the log must cover the copy request for this test to mean anything"
    )
    outputs = {"stdout": run.stdout, "stderr": run.stderr, "record": json.dumps(record), "log": log}
    for where, text in outputs.items():
        for secret in (key_src, key_dst, bogus_sig):
            assert secret not in text, f"secret leaked in {where}"
        assert not re.search(r"sig=(?!\*\*\*REDACTED|REDACTED)[A-Za-z0-9%+/=]{8,}", text), where


def test_pages_from_url_on_azurite_fails_that_region_only(
    azurite: Azurite, tmp_path: Path, cache: Path
) -> None:
    image = make_image(tmp_path / "pfu.vhd", size_mib=16, seed=6, extents=2)
    config = StorageConfig(regions={r: azurite.region(r) for r in REGIONS[:2]})
    record = replicate_image(
        image, REGIONS[:2], config=config, force=True, strategy="pages-from-url", offer="pfu"
    )
    assert record.regions[0].state == "replicated"
    assert record.regions[1].state == "failed"
    assert "501" in (record.regions[1].error or "")
    assert record.exit_code == 1


def _report(path: Path, digest: str, verdict: str) -> Path:
    data: dict[str, Any] = {
        "schema": "vmcert-report",
        "schema_version": 1,
        "images": [{"image": {"path": "x.vhd", "sparse_digest": digest}, "verdict": verdict}],
    }
    path.write_text(json.dumps(data))
    return path


def test_approval_gating(azurite: Azurite, tmp_path: Path, cache: Path) -> None:
    env: dict[str, str] = {"VMCERT_CACHE_DIR": str(cache)}
    cfg = write_config(tmp_path / "storage.toml", azurite, ["eastus"], env)
    image = make_image(tmp_path / "gate.vhd", size_mib=8, seed=7, extents=1)
    digest = sparse_digest(image)
    base = [str(image), "--to", "eastus", "--config", str(cfg), "--offer", "gate"]

    none = vmcert("replicate", *base, env=env, cwd=tmp_path)
    assert none.returncode == 2
    assert "vmcert: error: not approved: pass --report" in none.stderr

    failed = vmcert(
        "replicate",
        *base,
        "--report",
        str(_report(tmp_path / "f.json", digest, "failed")),
        env=env,
        cwd=tmp_path,
    )
    assert failed.returncode == 2
    assert "verdict is 'failed'" in failed.stderr

    other = vmcert(
        "replicate",
        *base,
        "--report",
        str(_report(tmp_path / "o.json", "0" * 64, "certified")),
        env=env,
        cwd=tmp_path,
    )
    assert other.returncode == 2
    assert "no entry for this image" in other.stderr
    assert "Traceback" not in none.stderr + failed.stderr + other.stderr

    good = vmcert(
        "replicate", *base, "--report", str(_report(tmp_path / "c.json", digest, "certified")),
        "--record", "ok.json", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    approval = json.loads((tmp_path / "ok.json").read_text())["approval"]
    assert approval["approved"] is True and approval["forced"] is False

    forced = vmcert("replicate", *base, "--force", "--record", "forced.json", env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert json.loads((tmp_path / "forced.json").read_text())["approval"]["forced"] is True

    both = vmcert(
        "replicate", *base, "--force", "--report", str(tmp_path / "c.json"), env=env, cwd=tmp_path
    )
    assert both.returncode == 2


def test_sigterm_exits_130_keeps_the_journal_and_a_rerun_resumes(
    azurite: Azurite, tmp_path: Path, cache: Path
) -> None:
    env: dict[str, str] = {"VMCERT_CACHE_DIR": str(cache)}
    cfg = write_config(tmp_path / "storage.toml", azurite, ["eastus"], env)
    image = make_image(tmp_path / "term.vhd", size_mib=96, seed=8, extents=8)
    args = [
        sys.executable, "-m", "harness.cli", "replicate", str(image), "--to", "eastus",
        "--config", str(cfg), "--force", "--offer", "term", "--threads", "2",
    ]  # fmt: skip
    proc = subprocess.Popen(
        [*args, "--limit-rate", "4", "--record", "term.json"],
        env={**os.environ, **env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _journal_done(cache) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the upload ended before it could be interrupted"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 20, "queued pieces must not be sent after SIGTERM"
    assert "vmcert: error: interrupted by SIGTERM" in err
    assert "Traceback" not in err
    kept = _journal_done(cache)
    assert kept >= 2

    rerun = subprocess.run(
        [*args, "--record", "rerun.json"], env={**os.environ, **env}, cwd=tmp_path,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    region = json.loads((tmp_path / "rerun.json").read_text())["regions"][0]
    assert region["state"] == "replicated" and region["bytes_resumed"] > 0
