"""The embedded Azurite: an account per region, pinned API version, lifecycle, storage up|down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import pid_alive
from harness.replication import azurite
from harness.replication.azurite import Azurite, account_for
from harness.replication.blob import blob_client, service_client


def test_account_names_are_valid_and_stable() -> None:
    assert account_for("eastus") == "vmceastus"
    assert account_for("West-Europe 2") == "vmcwesteurope2"
    long = account_for("a-very-long-region-name-that-goes-on")
    assert len(long) == 24 and long.isalnum() and long.islower()


def test_one_account_per_region_and_clean_stop(tmp_path: Path) -> None:
    instance = Azurite(regions=["eastus", "westeurope"])
    with instance:
        assert instance.pid is not None and pid_alive(instance.pid)
        location = instance.location
        assert location is not None and location.is_dir()
        # Each region's account works with the pinned API version...
        for region in ("eastus", "westeurope"):
            blob = blob_client(instance.region(region), "hello.vhd")
            blob.create_page_blob(1024)
            blob.upload_page(b"\x07" * 512, offset=512, length=512)
            assert blob.download_blob().readall() == bytes(512) + b"\x07" * 512
        # ...and one account's key does not open another account.
        from azure.core.exceptions import HttpResponseError
        from azure.storage.blob import BlobServiceClient

        wrong = instance.connection_string("eastus").replace(
            instance.keys["vmceastus"], instance.keys["vmcwesteurope"]
        )
        client = BlobServiceClient.from_connection_string(wrong, api_version=azurite.API_VERSION)
        with pytest.raises(HttpResponseError) as info:
            list(client.list_containers())
        assert info.value.status_code == 403
        pid = instance.pid
    assert not pid_alive(pid), "Azurite must be stopped on exit"
    assert not location.exists(), "the per-run data directory is removed"


def test_region_endpoint_is_loopback_only() -> None:
    with Azurite(regions=["eastus"]) as instance:
        region = instance.region("eastus")
        assert region.endpoint.startswith("http://127.0.0.1:")
        assert region.emulator and region.api_version == azurite.API_VERSION
        assert instance.keys["vmceastus"] not in repr(region)
        service = service_client(region)
        assert service.account_name == "vmceastus"


def _vmcert(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_storage_up_status_down_keeps_data_across_account_changes(tmp_path: Path) -> None:
    env = {"VMCERT_STATE_DIR": str(tmp_path / "state")}
    assert _vmcert("storage", "status", env=env).returncode == 1
    try:
        up = _vmcert("storage", "up", "--regions", "eastus", env=env)
        assert up.returncode == 0, up.stderr
        assert "eastus: account vmceastus" in up.stdout
        key_line = [line for line in up.stdout.splitlines() if "AccountKey" in line]
        assert not key_line, "connection strings are printed only on request"
        status = _vmcert("storage", "status", env=env)
        assert status.returncode == 0 and "running" in status.stdout

        os.environ["VMCERT_STATE_DIR"] = env["VMCERT_STATE_DIR"]
        try:
            first = azurite.running()
            assert first is not None
            blob = blob_client(first.region("eastus"), "kept.vhd")
            blob.create_page_blob(512)
            blob.upload_page(b"\x05" * 512, offset=0, length=512)
            # Asking for a new region restarts with one more account and the same data.
            second = azurite.up(["eastus", "westus"])
            assert second.port == first.port and second.pid != first.pid
            assert not pid_alive(first.pid or 0)
            again = blob_client(second.region("eastus"), "kept.vhd")
            assert again.download_blob().readall() == b"\x05" * 512
            blob_client(second.region("westus"), "new.vhd").create_page_blob(512)
        finally:
            del os.environ["VMCERT_STATE_DIR"]
    finally:
        down = _vmcert("storage", "down", env=env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert _vmcert("storage", "status", env=env).returncode == 1
    assert not (tmp_path / "state" / "azurite-data").exists()


def test_replicate_without_config_runs_a_temporary_azurite(tmp_path: Path) -> None:
    import json
    import socket

    image = tmp_path / "tiny.vhd"
    with open(image, "wb") as fh:
        fh.truncate(4 * 1024 * 1024 + 512)
        fh.write(b"\x42" * 65536)
    env = {
        "VMCERT_STATE_DIR": str(tmp_path / "state"),  # no `storage up` instance there
        "VMCERT_CACHE_DIR": str(tmp_path / "cache"),
        "VMCERT_STORAGE_CONFIG": "",
    }
    run = _vmcert(
        "replicate",
        str(image),
        "--force",
        "--to",
        "eastus,westus",
        "--record",
        str(tmp_path / "r.json"),
        env=env,
    )
    assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["storage"].startswith("embedded Azurite at http://127.0.0.1:")
    assert [r["state"] for r in record["regions"]] == ["replicated", "replicated"]
    port = int(record["storage"].rsplit(":", 1)[1])
    with socket.socket() as sock:  # stopped when the run ended
        assert sock.connect_ex(("127.0.0.1", port)) != 0
