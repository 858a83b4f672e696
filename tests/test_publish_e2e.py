"""The pipeline's worker on the real core: QEMU boots of the cached test image.

Publish -> Live (the defective image failing Certification, the fixed one replicated to the
embedded Azurite, booted for Preview and taken live, Provisioning against storage that does not
answer) is the browser story, tests/test_web_story_e2e.py, against a real ``vmcert serve``.

A worker process SIGKILLed while Certification boots the good image (one boot to the kill, one
to the end): a restarted worker resumes the stage, the history holds each transition once, and
nothing of the killed attempt stays behind (its QEMU dies with it; its files are reaped).

Run under the shared lock: ``flock /tmp/vmcert-e2e.lock python -m pytest -q
tests/test_publish_e2e.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.publish.history import What
from harness.publish.model import RequestStatus, Stage, StepStatus
from harness.publish.offer import load_offer
from harness.publish.settings import PublishSettings, load_settings
from harness.publish.store import open_store
from harness.publish.template import write_template
from harness.publish.views import RequestView
from harness.replication import azurite

pytestmark = pytest.mark.e2e

OFFER = "contoso-vm"
SETTLE_S = 2400.0
"""Bound for one request to reach sign-off or its end (TCG boots on a loaded machine)."""


@pytest.fixture
def e2e_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PublishSettings]:
    """The embedded defaults (SQLite, outbox, Azurite kept alive) in a temporary data and state
    directory; the Azurite started by Provisioning is stopped at the end."""
    monkeypatch.setenv("VMCERT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VMCERT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("VMCERT_PUBLISH_SETTINGS", raising=False)
    monkeypatch.delenv("VMCERT_PUBLISH_DB", raising=False)
    monkeypatch.delenv("VMCERT_STORAGE_CONFIG", raising=False)
    base = load_settings()
    try:
        yield replace(base, tick_seconds=0.2, retry_delay_seconds=1.0, retry_limit=1)
    finally:
        azurite.down()


def _offer_with(directory: Path, image: Path) -> Path:
    """``vmcert offer init`` output whose plan image is ``image`` (a link, as a user's build
    output would be referenced)."""
    if not directory.exists():
        write_template(directory)
    target = directory / "images" / "contoso-standard-1.0.0.vhd"
    target.parent.mkdir(exist_ok=True)
    target.unlink(missing_ok=True)
    target.symlink_to(image)
    return directory / "offer.toml"


def _why(request: RequestView | None) -> object:
    """What a request's stages say, for an assertion message."""
    if request is None:
        return None
    return [(v.stage.value, v.status.value, [m.text for m in v.messages]) for v in request.stages]


# -- SIGKILL mid-certification ----------------------------------------------------------------

WORKER = """
import sys
from dataclasses import replace
from harness.publish.adapters import CoreCertifier
from harness.publish.model import Stage
from harness.publish.outcome import WaitForInput
from harness.publish.pipeline import Pipeline
from harness.publish.settings import load_settings
from harness.publish.stages.certification import CertificationStage
from harness.publish.stages.validate import ValidateStage

class Hold:  # Provisioning is not this test's business: park the request there
    def run(self, ctx):
        return WaitForInput("held by the test")

settings = replace(load_settings(), lease_seconds=30.0, tick_seconds=0.2)
stages = {
    Stage.VALIDATE: ValidateStage(),
    Stage.CERTIFICATION: CertificationStage(CoreCertifier()),
    Stage.PROVISIONING: Hold(),
}
pipeline = Pipeline(settings, stages)
try:
    settled = pipeline.settle(sys.argv[1], float(sys.argv[2]))
finally:
    pipeline.close()
sys.exit(0 if settled else 3)
"""


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(command name, parent pid, state) of a process; ``None`` when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    state, ppid = text[text.rindex(")") + 2 :].split()[:2]
    return name, int(ppid), state


def _qemu_child(parent: int) -> int | None:
    for proc in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(proc.name))
        if stat is not None and stat[1] == parent and stat[0].startswith("qemu-system"):
            return int(proc.name)
    return None


def _qemu_on(directory: Path) -> list[int]:
    """Live QEMU processes whose command line names a file under ``directory``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in argv.split(b"\0")[0] and str(directory).encode() in argv:
            found.append(int(proc.name))
    return found


def test_sigkill_mid_certification_resumes_after_restart(
    e2e_settings: PublishSettings, tmp_path: Path, good_image: Path
) -> None:
    settings = e2e_settings
    path = _offer_with(tmp_path / "offer", good_image)
    store = open_store(settings)
    store.publish(load_offer(path).offer, actor="alice", emails=["p@contoso.example"])
    run_dir = settings.work_dir(OFFER, 1, Stage.CERTIFICATION) / "run"

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, OFFER, str(SETTLE_S)],
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    first = worker()
    second: subprocess.Popen[bytes] | None = None
    try:
        # -- kill the worker once its QEMU runs (Certification's boot) ----------------------
        deadline = time.monotonic() + 600
        qemu = None
        while qemu is None:
            assert first.poll() is None, first.communicate()[0].decode()
            assert time.monotonic() < deadline, "the worker never started QEMU"
            time.sleep(0.2)
            qemu = _qemu_child(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 20
        while (stat := _stat(qemu)) is not None and stat[2] != "Z":
            assert time.monotonic() < deadline, f"QEMU {qemu} outlived its killed worker"
            time.sleep(0.1)
        killed = store.request(OFFER)
        assert killed is not None and killed.stage is Stage.CERTIFICATION, _why(killed)
        assert killed.stage_view(Stage.CERTIFICATION).status is StepStatus.IN_PROGRESS
        # what the killed attempt left: its boot directory, and the QMP socket directory
        # outside it when the path is long (it is under pytest's tmp_path)
        cmdlines = list(run_dir.rglob("qemu.cmdline"))
        assert cmdlines, f"no boot directory under {run_dir}"
        left = [c.parent for c in cmdlines] + [
            Path(word[len("unix:") :].split(",")[0]).parent
            for c in cmdlines
            for word in c.read_text().split()
            if word.startswith("unix:")
        ]
        assert all(p.exists() for p in left), left

        # -- a new worker resumes the stage and takes it to its end -------------------------
        second = worker()
        output, _ = second.communicate(timeout=SETTLE_S + 60)
        assert second.returncode == 0, output.decode()[-3000:]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    request = store.request(OFFER)
    assert request is not None and request.status is RequestStatus.RUNNING, _why(request)
    assert request.stage is Stage.PROVISIONING, _why(request)
    cert = request.stage_view(Stage.CERTIFICATION)
    assert cert.status is StepStatus.COMPLETE and cert.attempt == 2, _why(request)
    for name in ("report.json", "junit.xml", "report.html"):
        assert (run_dir / name).is_file(), name

    history = [(e.what, e.stage) for e in store.history(OFFER)]
    doubled = [key for key, count in Counter(history).items() if count > 1]
    assert doubled == [], history
    certification = [what for what, stage in history if stage == Stage.CERTIFICATION.value]
    assert certification == [What.STAGE_STARTED, What.STAGE_RESUMED, What.STAGE_COMPLETED]
    assert history[-1] == (What.STAGE_STARTED, Stage.PROVISIONING.value), history
    log = (settings.work_dir(OFFER, 1, Stage.CERTIFICATION) / "stage.log").read_text()
    assert "attempt 1" in log and "attempt 2" in log

    assert not any(p.exists() for p in left), left  # reaped by the resumed attempt
    assert _qemu_on(tmp_path) == []
    store.close()
