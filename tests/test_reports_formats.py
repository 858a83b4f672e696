"""Reporter outputs validate against their schemas; hostile guest output stays harmless."""

from __future__ import annotations

import dataclasses
import json
import tracemalloc
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from checks.model import Result, Status
from reports import sanitize
from reports.base import ReportSpec, get_reporter, parse_report_spec, write_text
from reports.errors import ReportError
from reports.json_report import load_schema
from reports.model import RunReport
from tests.golden.sample import sample_run

JUNIT_XSD = Path(__file__).parent / "schemas" / "junit-consumer.xsd"

# 10 MB of everything a guest can throw at us: NULs, ANSI colours and OSC titles, C1 controls,
# invalid UTF-8, a lone surrogate (via surrogateescape), markup, and one enormous line.
HOSTILE_BYTES = (
    b"\x00\x01\x1b[31mred\x1b[0m\x1b]0;title\x07\xff\xfe\xc3(\x9b2J</system-out>]]><script>x</script>"
    + b"A" * 10_000_000
    + b"\r\n\x1b[2Jend\x00"
)
HOSTILE = HOSTILE_BYTES.decode("utf-8", errors="surrogateescape")


def hostile_run() -> RunReport:
    run = sample_run()
    image = run.images[1]
    bad = Result(
        "hostile\x00id",
        "hostile\x1b[1m title",
        "area\x07",
        Status.FAIL,
        HOSTILE,
        "<required & \x00>",
        HOSTILE,
        evidence=HOSTILE,
    )
    image.online_results.append(bad)
    image.serial_log = HOSTILE
    image.guest = {"os_name": HOSTILE}
    image.infra_error = HOSTILE
    return run


def _junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def test_json_report_validates_against_shipped_schema() -> None:
    document = json.loads(get_reporter("json").render(sample_run()))
    jsonschema.validate(document, load_schema())
    assert document["schema"] == "vmcert-report"
    assert document["schema_version"] == 1
    verdicts = [image["verdict"] for image in document["images"]]
    assert verdicts == ["certified", "failed"]
    assert document["images"][1]["failing_checks"] == ["no_swap_on_os_disk", "ssh_client_alive"]
    image = document["images"][0]["image"]
    assert set(image) >= {"path", "format", "virtual_size", "sparse_digest"}


def test_schema_rejects_a_bad_verdict() -> None:
    document = json.loads(get_reporter("json").render(sample_run()))
    document["images"][0]["verdict"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, load_schema())


def test_junit_validates_against_consumer_xsd() -> None:
    xml = get_reporter("junit").render(sample_run())
    _junit_schema().validate(xml)
    root = ET.fromstring(xml)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["good.vhd on qemu", "defective.vhd on qemu"]
    waived = root.find(".//testcase[@name='python_version: Python version']/skipped")
    assert waived is not None and "static binary" in (waived.get("message") or "")
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["image"] == "/images/good.vhd" and props["policy"] == "default"


def test_junit_xsd_catches_a_missing_required_attribute() -> None:
    xml = get_reporter("junit").render(sample_run()).replace(' failures="0"', "", 1)
    assert not _junit_schema().is_valid(xml)


def test_selftest_shape() -> None:
    documents = json.loads(get_reporter("selftest").render(sample_run()))
    assert [d["TestResult"] for d in documents] == ["Pass", "Fail"]
    keys = {"TestID", "TestCaseName", "Description", "Result", "ActualValue", "RequiredValue"}
    for document in documents:
        for test in document["Tests"]:
            assert set(test) == keys
            assert test["Result"] in {"Passed", "Warning", "Failed"}
    single = sample_run()
    single.images = single.images[:1]
    assert isinstance(json.loads(get_reporter("selftest").render(single)), dict)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]


def test_html_is_self_contained_and_escaped() -> None:
    page = get_reporter("html").render(sample_run())
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags
    assert all(link.startswith("#") for link in parser.links)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<details>" in page and "Serial log" in page


def test_hostile_output_stays_valid_and_bounded() -> None:
    run = hostile_run()  # built before tracing: the 10 MB input is not ours to count
    tracemalloc.start()
    try:
        outputs = {fmt: get_reporter(fmt).render(run) for fmt in ("junit", "json", "html")}
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # five copies of 10 MB would be >50 MB; capped fields keep the whole rendering small
    assert peak < 16 * 1024 * 1024, peak
    for text in outputs.values():
        assert len(text) < 2 * 1024 * 1024
        assert "\x00" not in text and "\x1b" not in text
        text.encode("utf-8")  # no lone surrogates survive
    _junit_schema().validate(outputs["junit"])
    jsonschema.validate(json.loads(outputs["json"]), load_schema())
    assert "<script>x" not in outputs["html"]
    assert "&lt;script&gt;x" in outputs["html"]
    assert "characters cut" in outputs["json"]
    assert "\\x00" in outputs["json"] and "\\xff" in outputs["json"]


def test_sanitize_bytes_and_text() -> None:
    assert sanitize.clean(b"a\xffb\x00c\x1b[31md") == "a\\xffb\\x00cd"
    assert sanitize.clean("ok\ttab\nline\r\n") == "ok\ttab\nline\r\n"
    cut = sanitize.clean("x" * 1000, limit=100, keep="tail")
    assert cut.endswith("x" * 100) and "900 characters cut" in cut
    assert sanitize.clean(None) == ""


def test_parse_report_spec() -> None:
    assert parse_report_spec("junit:out.xml") == ReportSpec("junit", "out.xml")
    assert parse_report_spec("json:-").to_stdout
    assert parse_report_spec("HTML") == ReportSpec("html", None)
    assert parse_report_spec("json:/tmp/a:b.json").path == "/tmp/a:b.json"
    with pytest.raises(ReportError, match="unknown format 'pdf'"):
        parse_report_spec("pdf:x.pdf")
    with pytest.raises(ReportError, match="empty path"):
        parse_report_spec("json:")


def test_write_text_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    write_text(target, "one")
    write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_write_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    get_reporter("json").write(sample_run(), "-")
    assert json.loads(capsys.readouterr().out)["schema"] == "vmcert-report"


def test_verdict_rules() -> None:
    run = sample_run()
    good, bad = run.images
    assert good.verdict == "certified" and bad.verdict == "failed" and run.verdict == "failed"
    clean = dataclasses.replace(bad, offline_results=[], online_results=[], infra_error="no ssh")
    assert clean.verdict == "infra_error"
    run.images = [good, clean]
    assert run.verdict == "infra_error"


def test_json_report_meets_the_replication_contract(tmp_path: Path) -> None:
    """H6's approval gate reads this report: certified images pass it, failed ones do not."""
    replicate = pytest.importorskip("harness.replication")
    path = tmp_path / "report.json"
    get_reporter("json").write(sample_run(), path)
    good, bad = sample_run().images
    assert good.sparse_digest and bad.sparse_digest
    assert replicate.check_approval(path, good.sparse_digest, force=False)["approved"] is True
    with pytest.raises(replicate.ApprovalError, match="'failed'"):
        replicate.check_approval(path, bad.sparse_digest, force=False)


def test_run_notes_reach_every_reporter() -> None:
    """A note on how the run went (here: the NoCloud fallback) is in JSON, JUnit, HTML and the
    console, escaped; without notes the JSON has no ``notes`` key (golden files unchanged)."""
    note = "Azure provisioning failed; the other checks ran on a NoCloud re-boot <b>"
    run = sample_run()
    run.images[1].notes.append(note)
    document = json.loads(get_reporter("json").render(run))
    jsonschema.validate(document, load_schema())
    assert document["images"][1]["notes"] == [note] and "notes" not in document["images"][0]
    suites = ET.fromstring(get_reporter("junit").render(run))
    values = [p.get("value") for p in suites.iter("property") if p.get("name") == "note_1"]
    assert values == [note]
    page = get_reporter("html").render(run)
    assert "NoCloud re-boot &lt;b&gt;" in page and "re-boot <b>" not in page
    assert "NoCloud re-boot" in get_reporter("console").render(run)
