"""End to end: certify the good and the defective test image in ONE run with every reporter.

Boots two real VMs under QEMU, one after the other (TCG: about a minute each).
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from reports.json_report import load_schema

JUNIT_XSD = Path(__file__).parent / "schemas" / "junit-consumer.xsd"


@pytest.fixture(scope="module")
def test_images() -> tuple[Path, Path]:
    """The good and the defective test image (built once, then reused from the cache)."""
    from images.recipe import build_test_image

    return build_test_image("good"), build_test_image("defective")


@pytest.mark.e2e
def test_certify_good_and_defective(test_images: tuple[Path, Path], tmp_path: Path) -> None:
    from images.recipe import VARIANTS

    good_image, defective_image = test_images
    out = tmp_path / "out"
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "harness.cli", "certify", str(good_image), str(defective_image),
        "--run-dir", str(run_dir), "--retries", "1", "--keep", "never",
        "--report", f"json:{out / 'report.json'}",
        "--report", f"junit:{out / 'junit.xml'}",
        "--report", f"selftest:{out / 'selftest.json'}",
        "--report", f"html:{out / 'report.html'}",
        "--report", f"console:{out / 'summary.txt'}",
        "--replicate", "eastus,westeurope",  # no storage config: the embedded Azurite
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=_env())
    assert proc.returncode == 1, proc.stderr[-4000:]
    assert (out / "report.json").is_file(), proc.stderr[-4000:]

    document = json.loads((out / "report.json").read_text())
    jsonschema.validate(document, load_schema())
    good, bad = document["images"]
    assert good["verdict"] == "certified", good["failing_checks"]
    assert bad["verdict"] == "failed"
    assert set(good["failing_checks"]) == set(VARIANTS["good"].expected_failures)
    assert set(bad["failing_checks"]) == set(VARIANTS["defective"].expected_failures)
    for image in (good, bad):
        assert image["image"]["sparse_digest"] and image["image"]["virtual_size"]
        assert image["infra"]["error"] is None
        assert {"inspect", "boot", "checks"} <= set(image["timings"])
        assert any(r["source"] == "online" for r in image["results"])
        assert Path(image["artifacts"]["run_json"]).is_file()
        assert Path(image["artifacts"]["serial_log"]).stat().st_size > 0

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(out / "junit.xml"))
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == 2 and int(suites[0].get("failures", "x")) == 0
    assert int(suites[1].get("failures", "0")) + int(suites[1].get("errors", "0")) >= len(
        VARIANTS["defective"].expected_failures
    )

    selftest = json.loads((out / "selftest.json").read_text())
    assert [d["TestResult"] for d in selftest] == ["Pass", "Fail"]
    assert selftest[0]["OSDistro"] == "debian" and selftest[0]["KernelFullVersion"]

    page = (out / "report.html").read_text()
    assert "Serial log" in page
    # nothing loaded from the network (guest text may mention URLs: it is escaped text)
    parser = _Tags()
    parser.feed(page)
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert all(link.startswith("#") for link in parser.links)
    assert "url(" not in page.split("</style>")[0] and "@import" not in page
    assert "failed" in (out / "summary.txt").read_text()

    # --replicate: only the certified image left, verified in both regions, approved by the run.
    records = sorted(run_dir.glob("replication-*.json"))
    expected = [f"replication-1-{good_image.stem}.json"]
    assert [r.name for r in records] == expected, proc.stderr[-4000:]
    record = json.loads(records[0].read_text())
    assert {r["region"]: r["state"] for r in record["regions"]} == {
        "eastus": "replicated",
        "westeurope": "replicated",
    }
    assert all(r["digest"] == good["image"]["sparse_digest"] for r in record["regions"])
    assert record["approval"]["approved"] is True and not record["approval"]["forced"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["CI"] = "1"  # plain progress lines
    return env
