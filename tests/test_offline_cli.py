"""``vmcert certify --offline`` and ``vmcert inspect --content`` on a small Debian-like image with
planted findings (no boot): verdicts, the not-judged representation in every report format, and
the shipped facts a booting ``certify`` reads from the image before it boots."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from checks.plan import CheckPlan
from checks.registry import select_checks
from harness.cli import main
from harness.errors import ExitCode
from harness.runner import CertifyOptions, Selection, certify, shipped_facts
from reports.json_report import load_schema
from tests.test_certify import NeverBoots
from tests.test_images_fs_support import MIB, Part, make_disk, mkfs, tool
from tests.test_offline_support import debian_tree

JUNIT_XSD = Path(__file__).parent / "schemas" / "junit-consumer.xsd"
RUNTIME = {"boot_log_clean", "serial_console_enabled", "ssh_enabled", "network_dhcp"}


def _not_judged_ok(ids: set[str]) -> bool:
    """``ids`` holds the four runtime-only checks, and only checks that read a fact no offline
    reader gives (later checks may add more): a probe's, or one the harness supplies at boot."""
    needs_runtime = {
        c.id
        for c in select_checks()
        if any(f.offline is None and (f.probed or f.offline_note) for f in c.facts)
    }
    return RUNTIME <= ids <= needs_runtime


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool("mkfs.ext4", "sfdisk", "qemu-img")
    tmp = tmp_path_factory.mktemp("offline-cli")
    root = mkfs("ext4", debian_tree(tmp / "root"), tmp / "root.img", 48 * MIB)
    make_disk(tmp / "disk.raw", [Part(48, "83", root)], scheme="mbr")
    return tmp / "disk.raw"


def _run(*argv: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    return int(exc.value.code or 0)


def test_certify_offline_reports_every_format(image: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code = _run("certify", "--offline", "--run-dir", str(run_dir), str(image))
    assert code == ExitCode.FAILED
    document = json.loads((run_dir / "report.json").read_text())
    jsonschema.validate(document, load_schema())
    entry = document["images"][0]
    assert entry["mode"] == "offline" and entry["platform"]["name"] == "offline"
    results = {r["id"]: r for r in entry["results"]}
    assert _not_judged_ok({cid for cid, r in results.items() if "not_judged" in r})
    assert not any(r["status"] == "error" for r in results.values())
    assert results["ssh_enabled"]["status"] == "skipped"
    assert results["ssh_enabled"]["not_judged"].startswith("ssh_service: needs a running system")
    assert results["bash_history"]["status"] == "fail"
    assert results["bash_history"]["source"] == "offline"
    assert results["bash_history"]["facts"] == {"bash_history": "offline"}
    assert results["no_swap_on_os_disk"]["facts"]["image"] == "offline"
    assert "fstab:" in results["no_swap_on_os_disk"]["actual"]  # not "running:" offline
    assert entry["check_run"]["offline_read_seconds"] < 30
    # JUnit: a not-judged check is a skipped test case that says why
    junit = (run_dir / "junit.xml").read_text()
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(junit)
    case = next(
        c
        for c in ET.fromstring(junit).iter("testcase")
        if c.get("name", "").startswith("ssh_enabled")
    )
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith("not judged:")
    assert case.get("name", "").endswith("[offline]")
    html = (run_dir / "report.html").read_text()
    assert "<td>not judged</td>" in html and 'class="verdict failed"' in html


def test_certify_offline_without_failures_is_passed_offline(image: Path, tmp_path: Path) -> None:
    checks = "ssh_client_alive_interval,hyperv_initramfs,ssh_enabled,python_version"
    code = _run(
        "certify", "--offline", "--checks", checks, "--run-dir", str(tmp_path / "r"), str(image)
    )
    assert code == ExitCode.OK
    document = json.loads((tmp_path / "r" / "report.json").read_text())
    assert document["verdict"] == "passed_offline"  # not certified: nothing ran
    selftest = tmp_path / "s.json"
    code = _run(
        "certify", "--offline", "--checks", checks, "--run-dir", str(tmp_path / "r2"),
        "--report", f"selftest:{selftest}", str(image),
    )  # fmt: skip
    tests = json.loads(selftest.read_text())["Tests"]
    assert {t["TestCaseName"] for t in tests} >= {"Client Alive Interval", "Python Version"}
    assert all(t["Result"] == "Passed" for t in tests)


def test_offline_verdict_cannot_be_replicated(image: Path, tmp_path: Path) -> None:
    code = _run("certify", "--offline", "--replicate", "eastus", str(image))
    assert code == ExitCode.USAGE


def test_inspect_content_json(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run("inspect", "--content", "--json", str(image))
    assert code == ExitCode.FAILED
    document = json.loads(capsys.readouterr().out)
    assert _not_judged_ok(set(document["not_judged"]))
    ids = [r["id"] for r in document["results"]]
    assert ids[:2] == ["vhd_format", "vhd_footer"]  # the layout checks first
    failed = {r["id"] for r in document["results"] if r["failed"]}
    assert {"sudoers_no_targetpw", "no_default_credentials", "generalized"} <= failed
    assert document["content"]["offline_filesystems"]["root"] == "p1"


def test_inspect_content_human(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run("inspect", "--content", str(image))
    out = capsys.readouterr().out
    assert code == ExitCode.FAILED
    assert "Not judged offline:" in out and "ssh_enabled: ssh_service" in out
    assert "sudoers_no_targetpw" in out


def test_booting_certify_reads_shipped_facts_from_the_image(image: Path, tmp_path: Path) -> None:
    """Before booting, the facts first boot rewrites are read from the files; the machine never
    comes up here, and the reading is still recorded."""
    plan = CheckPlan(select_checks(tag="online"))
    assert {f.name for f in shipped_facts(plan)} == {
        "accounts",
        "bash_history",
        "deprovision_state",
    }
    NeverBoots.boots = 0
    options = CertifyOptions(platform=NeverBoots.name, retries=0, run_dir=tmp_path / "r")
    run, _ = certify([image], options, platform=NeverBoots(), checks=Selection.of())
    timings = run.images[0].check_run["offline_timings"]
    assert isinstance(timings, dict)
    assert set(timings) == {"accounts", "bash_history", "deprovision_state"}
    assert run.images[0].infra_error is not None  # the boot failed after the reading
