"""SIGINT delivered to ``vmcert boot`` at each phase leaves no process and no file behind.

Phases: before QEMU starts (held there by the ``VMCERT_TEST_PAUSE`` hook), while waiting for SSH,
and during a remote command. Each run checks exit code 130, an empty run directory, and that no
process still mentions the run directory (the overlay path is on QEMU's command line).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

BOOT_TIMEOUT = "900"  # TCG on a shared 2-core host can take minutes (local-boot §3)


def _interrupt_at(
    image: Path, run_dir: Path, marker: str, extra: list[str], env: dict[str, str], delay: float
) -> tuple[int, str]:
    """Start ``vmcert boot``, wait for ``marker`` on stderr, wait ``delay``, send SIGINT."""
    run_dir.mkdir()
    process = subprocess.Popen(
        [
            "vmcert",
            "boot",
            str(image),
            "--run-dir",
            str(run_dir),
            "--timeout",
            BOOT_TIMEOUT,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CI": "1", **env},
        # a shell's background job ignores SIGINT, and children inherit that: undo it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    seen = b""
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + float(BOOT_TIMEOUT) + 60
    try:
        while marker.encode() not in seen:
            assert time.monotonic() < deadline, f"never saw {marker!r}: {seen.decode()}"
            assert process.poll() is None, f"exited early: {seen.decode()}"
            if selector.select(timeout=1.0):
                seen += os.read(process.stderr.fileno(), 65536)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, (seen + rest).decode(errors="replace")


def _assert_nothing_left(run_dir: Path) -> None:
    assert list(run_dir.iterdir()) == [], f"left behind: {list(run_dir.rglob('*'))}"
    found = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True)
    assert found.returncode == 1, f"processes still running: {found.stdout}"


@pytest.mark.e2e
def test_sigint_before_qemu_starts(good_image: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, err = _interrupt_at(
        good_image,
        run_dir,
        "test pause at before-qemu",
        [],
        {"VMCERT_TEST_PAUSE": "before-qemu:120"},
        0.5,
    )
    assert code == 130, err
    assert "QEMU started" not in err
    assert "vmcert: error:" in err  # one line, no traceback
    _assert_nothing_left(run_dir)


@pytest.mark.e2e
def test_sigint_while_waiting_for_ssh(good_image: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, err = _interrupt_at(good_image, run_dir, "QEMU started", [], {}, 4.0)
    assert code == 130, err
    assert "running:" not in err  # it really was still waiting for SSH
    _assert_nothing_left(run_dir)


def _vmcert_temp_dirs() -> set[str]:
    """Per-run directories the platform and the Azure emulator make outside the run directory
    (QMP, DHCP redirector and tray-event sockets)."""
    tmp = Path(tempfile.gettempdir())
    return {p.name for p in tmp.glob("vmcert-*") if p.is_dir()}


@pytest.mark.e2e
def test_sigint_during_azure_provisioning(azure_image: Path, tmp_path: Path) -> None:
    """Interrupted while the guest provisions from the emulated Azure media: QEMU, the emulator's
    servers and relays, its sockets and the provisioning media are all gone."""
    before = _vmcert_temp_dirs()
    run_dir = tmp_path / "run"
    code, err = _interrupt_at(
        azure_image, run_dir, "QEMU started", ["--provision", "azure"], {}, 20.0
    )
    assert code == 130, err
    assert "running:" not in err  # still provisioning: no login yet
    _assert_nothing_left(run_dir)
    relays = subprocess.run(["pgrep", "-f", "azure_emulator/relay.py"], capture_output=True)
    assert relays.returncode == 1, relays.stdout
    keepers = subprocess.run(["pgrep", "-f", "azure_emulator.keeper"], capture_output=True)
    assert keepers.returncode == 1, keepers.stdout
    assert _vmcert_temp_dirs() <= before


@pytest.mark.e2e
def test_sigint_during_a_command(good_image: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, err = _interrupt_at(
        good_image, run_dir, "running: sleep 600", ["--command", "sleep 600"], {}, 2.0
    )
    assert code == 130, err
    _assert_nothing_left(run_dir)


@pytest.mark.e2e
def test_sigint_during_parallel_certify_stops_booting_vms_and_still_writes_reports(
    good_image: Path, tmp_path: Path
) -> None:
    """Two images booting at once (``--jobs 2``): SIGINT while both wait for SSH ends the run in
    seconds, not after the boot timeout, with exit 130, no QEMU left, and reports that say which
    images were interrupted."""
    import json

    run_dir = tmp_path / "run"
    report = tmp_path / "out" / "report.json"
    process = subprocess.Popen(
        ["vmcert", "certify", str(good_image), str(good_image), "--jobs", "2",
         "--run-dir", str(run_dir), "--report", f"json:{report}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CI": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + 600
    try:
        while seen.count(b"waiting up to") < 2:  # both QEMUs started, both waiting for SSH
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            assert process.poll() is None, seen.decode(errors="replace")
            chunk = process.stderr.read1(65536)  # type: ignore[attr-defined]
            seen += chunk
        time.sleep(1.0)
        interrupted_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=120)
        stopped_in = time.monotonic() - interrupted_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = (seen + rest).decode(errors="replace")
    assert process.returncode == 130, err[-3000:]
    assert stopped_in < 30, f"took {stopped_in:.0f} s to stop"
    assert "Traceback" not in err
    document = json.loads(report.read_text())
    assert [image["verdict"] for image in document["images"]] == ["infra_error", "infra_error"]
    assert all("interrupted" in image["infra"]["error"] for image in document["images"])
    found = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True)
    assert found.returncode == 1, f"processes still running: {found.stdout}"
