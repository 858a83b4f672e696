"""End to end under QEMU with real guests: ``--provision azure`` through the emulator.

* the azure test image (cloud-init restricted to the Azure datasource, waagent for extensions)
  provisions from the emulated media: cloud-init reports Ready with the goal state's ids, the
  harness logs in as the provisioned user, and teardown leaves no thread, relay or socket;
* the good image honours only NoCloud: booted with ``--provision azure`` it fails early (from the
  serial console, not at the SSH deadline) with a diagnosis naming the datasource;
* ``certify --provision azure``: the azure image passes ``azure_provisioning`` and
  ``azure_vm_agent_ready`` and completes the check suite; the NoCloud-only image fails
  ``azure_provisioning`` with that diagnosis, is re-booted with NoCloud and still gets every other
  verdict;
* ``vmcert boot --provision azure --keep`` prints the provisioning timeline and leaves the VM
  with its emulator: after vmcert exited the printed ``ssh`` command still gets in (the guest's
  network runs through the keeper) and the keeper stops when QEMU is killed.

Boots run under the shared lock: ``flock /tmp/vmcert-e2e.lock python -m pytest -q THIS_FILE``.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.platforms import BootContext, DiskFile
from harness.platforms.base import BootError
from harness.platforms.qemu import QemuMachine, QemuOptions, QemuPlatform
from harness.platforms.qemu.provision import FALLBACK_NOTE
from harness.runner import CertifyOptions, certify
from reports.model import ImageReport

pytestmark = pytest.mark.e2e


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
    nocloud_image: Path, tmp_path: Path
) -> None:
    options = QemuOptions(provision="azure", boot_timeout=900)
    context = BootContext(run_dir=tmp_path / "runs", notify=print)
    started = time.monotonic()
    with pytest.raises(BootError) as failure:
        QemuPlatform().boot(DiskFile.probe(nocloud_image), options, context)
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert "Azure provisioning failed" in message
    # cloud-init falls back to DataSourceNone, or ds-identify disables it: either way it says
    assert "Azure datasource" in message
    assert elapsed < 600, elapsed  # from the console, well before the 900 s SSH deadline
    assert emulator_threads() == []
    assert not any((tmp_path / "runs").iterdir())


def certify_azure(image: Path, run_dir: Path) -> ImageReport:
    """``vmcert certify --provision azure IMAGE`` through the runner; the image's report."""
    platform = QemuOptions(provision="azure", boot_timeout=900)
    run, _ = certify([image], CertifyOptions(platform_options=platform, run_dir=run_dir, retries=0))
    return run.images[0]


def assert_provisioned_and_complete(report: ImageReport, variant: str, agent: str) -> None:
    """``agent`` provisioned the ``variant`` image from the media, both provisioning checks
    pass, and the whole suite reached its verdicts (only the variant's planted failures)."""
    from images.recipe import VARIANTS

    assert report.infra_error is None, report.infra_error
    results = {r.check_id: r for r in report.online_results}
    provisioning = results["azure_provisioning"]
    assert provisioning.status.value == "pass", provisioning.message
    assert agent in provisioning.actual and "provisioning media" in provisioning.actual
    assert "health report: Ready" in provisioning.evidence
    vm_agent = results["azure_vm_agent_ready"]
    assert vm_agent.status.value == "pass", vm_agent.message
    # the suite completed: every online check reached a verdict, none for want of a login
    assert not [r.check_id for r in report.online_results if r.status.value == "error"]
    assert set(report.failing_ids) == set(VARIANTS[variant].expected_failures), [
        (r.check_id, r.message) for r in report.online_results if r.check_id in report.failing_ids
    ]
    assert Path(report.artifacts["azure_request_log"]).stat().st_size > 0
    assert report.platform_facts["provision"] == "azure"
    assert emulator_threads() == []


def test_azure_image_passes_provisioning_and_completes_the_suite(
    azure_image: Path, tmp_path: Path
) -> None:
    report = certify_azure(azure_image, tmp_path / "run")
    assert_provisioned_and_complete(report, "azure", "cloud-init")


def test_nocloud_only_image_fails_provisioning_and_gets_every_other_verdict(
    nocloud_image: Path, tmp_path: Path
) -> None:
    from images.recipe import VARIANTS

    report = certify_azure(nocloud_image, tmp_path / "run")
    assert report.infra_error is None, report.infra_error
    results = {r.check_id: r for r in report.online_results}
    provisioning = results["azure_provisioning"]
    assert provisioning.status.value == "fail"
    assert "Azure datasource" in provisioning.message  # DataSourceNone, or cloud-init silent
    assert FALLBACK_NOTE in provisioning.message
    assert report.notes == [FALLBACK_NOTE]
    assert report.platform_facts["provision"] == "nocloud"  # the checks ran on the re-boot
    assert results["azure_vm_agent_ready"].status.value == "skipped"
    # every other verdict, as a NoCloud certification gives it
    assert set(report.failing_ids) == set(VARIANTS["nocloud"].expected_failures)
    assert not [r.check_id for r in report.online_results if r.status.value == "error"]
    assert len(report.online_results) > 20
    assert Path(report.artifacts["azure_request_log"]).is_file()
    assert emulator_threads() == []


def test_agent_crash_and_no_nocloud_is_no_way_in_found_early(
    noeject_image: Path, tmp_path: Path
) -> None:
    """``vmcert certify`` (the default ``--provision azure``) on an image whose only agent,
    waagent, crashes on the missing ``eject`` before any request and whose cloud-init is switched
    off: both ways in fail, each from the serial console (and the empty request log) well before
    its SSH deadline, and the image is an infrastructure error (exit 3) naming both causes."""
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "harness.cli", "certify", "--timeout", "900", "--retries", "0",
        "--run-dir", str(run_dir), "--report", "json", "--report", "junit",
        str(noeject_image),
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    # two boots, each ended from the console: far below two 900 s SSH deadlines
    assert elapsed < 900, elapsed
    (image,) = json.loads((run_dir / "report.json").read_text())["images"]
    assert image["verdict"] == "infra_error"
    error = image["infra"]["error"]
    assert error.startswith("no way in: Azure provisioning failed"), error
    assert "waagent crashed before contacting the WireServer (FileNotFoundError" in error, error
    assert "eject" in error, error
    assert "no cloud-init stage ever started" in error, error
    (provisioning,) = [r for r in image["results"] if r["id"] == "azure_provisioning"]
    assert provisioning["status"] == "fail"
    assert "waagent crashed" in provisioning["message"]
    requests = Path(image["artifacts"]["azure_request_log"]).read_text()
    assert '"step":"health report"' not in requests  # nothing ever reported
    assert emulator_threads() == []
    leftovers = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True)
    assert leftovers.stdout == "", leftovers.stdout  # no QEMU, relay or keeper left


def test_boot_cli_prints_the_timeline_and_keeps_the_emulator(
    azure_image: Path, tmp_path: Path
) -> None:
    from harness.processes import pid_alive as alive

    command = [
        sys.executable, "-m", "harness.cli", "boot", "--provision", "azure", "--keep",
        "--timeout", "900", "--run-dir", str(tmp_path), str(azure_image),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    err = proc.stderr
    assert proc.returncode == 0, err[-4000:]
    assert "Azure provisioning: cloud-init reported Ready" in err, err[-4000:]
    assert re.search(r"\d+\.\d s  cloud-init\s+health report: Ready", err), err[-4000:]
    reach = re.search(r"reach it with: (ssh .+)", err)
    stop = re.search(
        r"stop it with: kill (\d+); rm -rf (\S+)  # the Azure emulator \(pid (\d+)\) stops when "
        r"QEMU exits",
        err,
    )
    assert reach is not None and stop is not None, err[-4000:]
    qemu_pid, kept_pid = int(stop.group(1)), int(stop.group(3))
    run_dir = Path(shlex.split(stop.group(2))[0])
    try:
        ssh = shlex.split(reach.group(1))
        ssh[1:1] = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=60"]
        # vmcert has exited: the VM's network and its agent's endpoints are the keeper's now
        answer = subprocess.run([*ssh, "hostname"], capture_output=True, text=True, timeout=180)
        assert answer.stdout.strip() == "vmcert-azure", answer.stderr
        assert "serving the VM" in (run_dir / "azure" / "keeper.log").read_text()
        # the printed stop command, pasted into a shell as a user would
        line = re.search(r"stop it with: (.+)", err)
        assert line is not None
        stopped = subprocess.run(["sh", "-c", line.group(1)], capture_output=True, text=True)
        assert stopped.returncode == 0, stopped.stderr
        deadline = time.monotonic() + 30
        while alive(kept_pid) or alive(qemu_pid):
            assert time.monotonic() < deadline, "the keeper or QEMU outlived the stop command"
            time.sleep(0.2)
        assert not run_dir.exists()
    finally:
        for pid in (qemu_pid, kept_pid):
            if alive(pid):
                subprocess.run(["kill", "-9", str(pid)], check=False)
        shutil.rmtree(run_dir, ignore_errors=True)
