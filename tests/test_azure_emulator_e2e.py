"""End to end under QEMU with real guests: ``--provision azure`` through the emulator.

* the azure test image (cloud-init restricted to the Azure datasource, waagent for extensions)
  provisions from the emulated media: cloud-init reports Ready with the goal state's ids, the
  harness logs in as the provisioned user, and teardown leaves no thread, relay or socket;
* the good image honours only NoCloud: booted with ``--provision azure`` it fails early (from the
  serial console, not at the SSH deadline) with a diagnosis naming the datasource.

Boots run under the shared lock: ``flock /tmp/vmcert-e2e.lock python -m pytest -q THIS_FILE``.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.platforms import BootContext, DiskFile
from harness.platforms.base import BootError
from harness.platforms.qemu import QemuMachine, QemuOptions, QemuPlatform

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def azure_image() -> Path:
    from tests.conftest import _build

    return _build("azure")


def emulator_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("azure-")]


def relays(ports: list[int]) -> list[str]:
    """Relay processes of this run's emulator (their argv names its host ports; QEMU's own
    command line, which holds the same text, is not one)."""
    found = subprocess.run(["pgrep", "-a", "python"], capture_output=True, text=True, check=False)
    needles = [f"relay.py 127.0.0.1 {port}" for port in ports]
    return [
        line
        for line in found.stdout.splitlines()
        if " -I -S " in line and any(line.endswith(needle) for needle in needles)
    ]


def test_azure_image_provisions_through_the_emulator(azure_image: Path, tmp_path: Path) -> None:
    serial = tmp_path / "kept" / "serial.log"
    context = BootContext(run_dir=tmp_path / "runs", serial_log_to=serial, notify=print)
    options = QemuOptions(provision="azure", boot_timeout=900)
    with QemuPlatform().booted(DiskFile.probe(azure_image), options, context) as machine:
        facts = machine.facts
        assert facts["provision"] == "azure"
        assert facts["azure_provisioning"] == "provisioned", facts["azure_provisioning_detail"]
        assert facts["azure_provisioning_agent"] == "cloud-init"
        assert facts["azure_provisioning_source"] == "provisioning media"
        assert "goal state" in facts["azure_timeline"]
        assert machine.user == "azureuser" and machine.footprint.login_user == "azureuser"
        assert machine.wait_settled().cloud_init == "done"  # as the runner does before checks
        with machine.session() as ssh:
            out = ssh.run(
                "id -un; hostname; systemd-detect-virt; cloud-init status --long; "
                "sudo -n true && echo sudo-ok; cat /proc/net/route",
                timeout=120,
            ).stdout_text
        assert out.splitlines()[:3] == ["azureuser", "vmcert-azure", "microsoft"]
        assert "DataSourceAzure [seed=/dev/sr0]" in out and "sudo-ok" in out
        assert "10813FA8" in out  # option 121's route to the WireServer, as on Azure
        run_dir = Path(facts["run_dir"])
        assert (run_dir / "azure" / "provisioning.iso").exists()
        assert emulator_threads()
        emulator = (
            machine.run.emulator if isinstance(machine, QemuMachine) and machine.run else None
        )
        assert emulator is not None
        ports = [forward.host_port for forward in emulator.forwards()]
    assert not run_dir.exists()
    assert emulator_threads() == []
    assert relays(ports) == []
    kept = serial.with_name("azure-requests.jsonl").read_text()
    assert '"step":"health report"' in kept and '"agent":"cloud-init"' in kept


def test_nocloud_only_image_fails_early_with_the_diagnosis(
    good_image: Path, tmp_path: Path
) -> None:
    options = QemuOptions(provision="azure", boot_timeout=900)
    context = BootContext(run_dir=tmp_path / "runs", notify=print)
    started = time.monotonic()
    with pytest.raises(BootError) as failure:
        QemuPlatform().boot(DiskFile.probe(good_image), options, context)
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert "Azure provisioning failed" in message
    # cloud-init falls back to DataSourceNone, or ds-identify disables it: either way it says
    assert "Azure datasource" in message
    assert elapsed < 600, elapsed  # from the console, well before the 900 s SSH deadline
    assert emulator_threads() == []
    assert not any((tmp_path / "runs").iterdir())
