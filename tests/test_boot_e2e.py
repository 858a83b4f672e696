"""``vmcert boot`` end to end: the good test image under QEMU (TCG here), one command, teardown.

Asserts the command ran, timings were printed, the candidate's bytes are unchanged (sha256), and
nothing was left behind: no file in the run directory and no process mentioning it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.e2e
def test_boot_runs_a_command_and_leaves_nothing(good_image: Path, tmp_path: Path) -> None:
    image = good_image
    before = _sha256(image)
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        ["vmcert", "boot", str(image), "--run-dir", str(run_dir), "--timeout", "900", "--console"],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "1"},
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr
    # provisioned as Azure does by default: the host name and the agent's Ready came from there
    assert proc.stdout.startswith("Linux vmcert-azure "), proc.stdout
    assert "Azure provisioning: cloud-init reported Ready" in proc.stderr, proc.stderr[-3000:]
    assert "timings: start→SSH ready" in proc.stderr
    assert "platform qemu" in proc.stderr and "gen 1" in proc.stderr
    assert "QEMU started" in proc.stderr
    assert "Linux version" in proc.stderr  # --console copied the serial console live
    assert list(run_dir.iterdir()) == []
    found = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True)
    assert found.returncode == 1, found.stdout
    assert _sha256(image) == before  # the candidate was only a read-only backing file


@pytest.mark.e2e
def test_gen2_image_boots_under_uefi_chosen_from_its_partition_table(
    gen2_image: Path, tmp_path: Path
) -> None:
    """The Generation 2 variant (GPT + ESP + systemd-boot) boots with OVMF without a flag, and
    the guest itself says it came up under UEFI."""
    from harness.platforms import BootContext, DiskFile
    from harness.platforms.qemu import QemuOptions, QemuPlatform

    before = _sha256(gen2_image)
    options = QemuOptions(boot_timeout=900)
    context = BootContext(run_dir=tmp_path / "run")
    with QemuPlatform().booted(DiskFile.probe(gen2_image), options, context) as machine:
        assert machine.facts["generation"] == "2"
        assert machine.facts["firmware"] == "OVMF (UEFI)"
        with machine.session() as session:
            result = session.run("test -d /sys/firmware/efi && cat /proc/cmdline")
    assert result.ok, result.stderr_text
    assert "console=ttyS0" in result.stdout_text
    assert _sha256(gen2_image) == before
