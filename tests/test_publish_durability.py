"""Durability: a worker process killed with SIGKILL mid-stage; a new worker resumes the stage,
and the history holds each transition once (the resume is its own event).

The request is brought to Packaging through the store's API (the earlier stages' outcomes are
recorded directly; their own tests run them). Packaging then runs for real in a subprocess and
sends its test lead to an HTTPS endpoint that holds the request open, so the kill lands inside
the stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.publish.history import What
from harness.publish.model import Stage, StepStatus
from harness.publish.offer import load_offer
from harness.publish.outcome import Complete
from harness.publish.settings import PublishSettings
from harness.publish.store import open_store

pytest_plugins = ("tests.publish_fixtures",)
pytest.register_assert_rewrite("tests.publish_fixtures")

from tests.publish_fixtures import TestCA, edit_offer, free_port  # noqa: E402

WORKER = """
import sys
from dataclasses import replace
from harness.publish.model import Stage
from harness.publish.pipeline import Pipeline
from harness.publish.settings import load_settings
from harness.publish.stages.packaging import PackagingStage

settings = replace(load_settings(), lease_seconds=30.0, tick_seconds=0.05)
pipeline = Pipeline(settings, {Stage.PACKAGING: PackagingStage()})
pipeline.settle(sys.argv[1], 120)
pipeline.close()
"""


def test_sigkill_mid_stage_resumes_after_restart(
    settings: PublishSettings, offer_dir: Path, test_ca: TestCA, tmp_path: Path
) -> None:
    release = threading.Event()
    arrived = threading.Event()
    leads: list[dict[str, object]] = []

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived.set()
            if not release.wait(60):
                return
            leads.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Slow)
    httpd.socket = test_ca.server_context().wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    path = offer_dir / "offer.toml"
    edit_offer(
        path,
        "[notifications]",
        f'[leads]\ndestination = "https"\ncontact_email = "leads@contoso.example"\n'
        f'url = "https://127.0.0.1:{port}/leads"\nca_file = "{test_ca.ca_file}"\n\n'
        "[notifications]",
    )
    store = open_store(settings)
    offer = load_offer(path).offer
    store.publish(offer, actor="alice", emails=["p@contoso.example"])
    for stage in (Stage.VALIDATE, Stage.CERTIFICATION, Stage.PROVISIONING):
        (run_id,) = store.due_runs()
        claim = store.claim(run_id, "earlier-stages")
        assert claim is not None and claim.stage is stage
        store.finish(claim, Complete())
    env = {
        **os.environ,
        "VMCERT_DATA_DIR": str(settings.data_dir),
        "VMCERT_PUBLISH_DB": settings.database_url,
    }

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, offer.id],
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    try:
        first = worker()
        assert arrived.wait(60), "the first worker never reached the lead destination"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        request = store.request(offer.id)
        assert request is not None and request.stage is Stage.PACKAGING
        assert request.stage_view(Stage.PACKAGING).status is StepStatus.IN_PROGRESS
        release.set()
        second = worker()
        output, _ = second.communicate(timeout=120)
        assert second.returncode == 0, output.decode()
    finally:
        release.set()
        httpd.shutdown()
    request = store.request(offer.id)
    assert request is not None
    packaging = request.stage_view(Stage.PACKAGING)
    assert packaging.status is StepStatus.COMPLETE and packaging.attempt == 2
    assert request.stage is Stage.PREVIEW  # moved on (Preview has no runner in this worker)
    history = [(e.what, e.stage) for e in store.history(offer.id)]
    assert history.count((What.STAGE_STARTED, "packaging_leads")) == 1
    assert history.count((What.STAGE_RESUMED, "packaging_leads")) == 1
    assert history.count((What.STAGE_COMPLETED, "packaging_leads")) == 1
    assert leads and str(leads[-1]["Description"]).startswith("MSFT_TEST_")
    log = (settings.work_dir(offer.id, 1, Stage.PACKAGING) / "stage.log").read_text()
    assert "attempt 1" in log and "attempt 2" in log
