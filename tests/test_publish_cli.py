"""The pipeline's commands as a user runs them (a real process per command, SQLite in a
temporary data directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytest_plugins = ("tests.publish_fixtures",)
pytest.register_assert_rewrite("tests.publish_fixtures")

from tests.publish_fixtures import edit_offer  # noqa: E402

RUN = "import sys; from harness.cli import main; main(sys.argv[1:])"


def vmcert(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VMCERT_DATA_DIR": str(data)}
    env.pop("VMCERT_PUBLISH_DB", None)
    env.pop("VMCERT_PUBLISH_SETTINGS", None)
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_offer_init_refuses_a_file_name_for_its_directory(tmp_path: Path) -> None:
    wrong = vmcert("offer", "init", str(tmp_path / "offer.toml"), data=tmp_path / "data")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert f"run: vmcert offer init {tmp_path}" in wrong.stderr
    assert not (tmp_path / "offer.toml").exists()  # nothing half-made


def test_publish_status_offers_history_cancel_outbox_support(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert vmcert("offer", "init", str(tmp_path / "o"), data=data).returncode == 0
    offer = tmp_path / "o" / "offer.toml"
    edit_offer(offer, 'summary = "A hardened Debian image for web workloads."', "")

    failed = vmcert("publish", str(offer), "--email", "me@contoso.example", data=data)
    assert failed.returncode == 1, failed.stderr
    assert "1. Validate Pre-Requisites" in failed.stdout and "FAILED" in failed.stdout
    assert "! listing.summary: required" in failed.stdout

    status = vmcert("status", "contoso-vm", "--json", data=data)
    document = json.loads(status.stdout)
    assert document["status"] == "failed" and document["offerStatus"] == "attentionNeeded"
    assert document["notificationEmails"] == "me@contoso.example"

    offers = vmcert("offers", data=data)
    assert offers.stdout.split()[:3] == ["contoso-vm", "attentionNeeded", "Validate"]

    refused = vmcert("cancel", "contoso-vm", data=data)
    assert refused.returncode == 2
    assert refused.stderr.startswith("vmcert: error: offer contoso-vm: no publish request")
    bad_email = vmcert("publish", str(offer), "--email", "not-an-address", data=data)
    assert bad_email.returncode == 2 and "is not an e-mail address" in bad_email.stderr

    history = vmcert("history", "contoso-vm", data=data).stdout.splitlines()
    assert [line.split("  ", 2)[-1].strip() for line in history][:2] == [
        "Submitted offer to preview",
        "Stage started: validate_prereqs",
    ]
    assert (
        history[-1]
        .rstrip()
        .endswith(
            "Stage failed: validate_prereqs (1 problem with the offer's fields; fix them and "
            "publish again)"
        )
    )

    outbox = vmcert("outbox", data=data)
    assert "outbox  me@contoso.example: [vmcert] contoso-vm: Validate Pre-Requisites failed" in (
        outbox.stdout
    )
    assert len(list((data / "outbox").glob("*.eml"))) == 1

    support = vmcert("support", "contoso-vm", "--message", "help", data=data)
    assert support.returncode == 0, support.stderr
    bundle = Path(support.stdout.strip().split("bundle ")[-1])
    with tarfile.open(bundle) as archive:
        assert "vmcert-support-contoso-vm/status.json" in archive.getnames()
    assert len(list((data / "outbox").glob("*.eml"))) == 2

    unknown = vmcert("status", "nope", data=data)
    assert unknown.returncode == 2 and "no offer 'nope' here" in unknown.stderr


def test_second_publish_while_running_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    vmcert("offer", "init", str(tmp_path / "o"), data=data)
    offer = tmp_path / "o" / "offer.toml"
    started = vmcert("publish", str(offer), "--no-wait", data=data)
    assert started.returncode == 0 and "publish request 1 started" in started.stdout
    again = vmcert("publish", str(offer), "--no-wait", data=data)
    assert again.returncode == 2
    assert "a publish request is already running" in again.stderr
    assert "Traceback" not in again.stderr


def test_two_publish_commands_at_once_let_exactly_one_through(tmp_path: Path) -> None:
    """Two processes on the same database (not two threads on one engine): one request."""
    data = tmp_path / "data"
    vmcert("offer", "init", str(tmp_path / "o"), data=data)
    vmcert("offers", data=data)  # the database exists, so both race on the request alone
    env = {**os.environ, "VMCERT_DATA_DIR": str(data)}
    env.pop("VMCERT_PUBLISH_DB", None)
    env.pop("VMCERT_PUBLISH_SETTINGS", None)
    command = [sys.executable, "-c", RUN, "publish", str(tmp_path / "o/offer.toml"), "--no-wait"]
    both = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results: list[tuple[int, str]] = []
    for process in both:
        _, err = process.communicate(timeout=120)
        results.append((process.returncode, err.decode()))
    assert sorted(code for code, _ in results) == [0, 2], results
    (refused,) = [err for code, err in results if code == 2]
    assert "a publish request is already running" in refused
    assert "Traceback" not in refused
    history = vmcert("history", "contoso-vm", data=data)
    assert history.stdout.count("Submitted offer to preview") == 1, history.stdout


def test_every_pipeline_command_is_mapped_in_the_cli_once() -> None:
    import importlib

    from harness.cli import COMMANDS
    from harness.publish.cli import publish_commands

    mapped = {name: t for name, t in COMMANDS.items() if t.startswith("harness.publish.cli:")}
    assert {c.name for c in publish_commands} == set(mapped)
    for name, target in mapped.items():
        module, attribute = target.split(":")
        assert getattr(importlib.import_module(module), attribute).name == name
