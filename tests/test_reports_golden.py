"""Golden tests: a fixed RunReport renders to exactly the files in tests/golden/.

Regenerate after an intended change with
``VMCERT_UPDATE_GOLDEN=1 pytest tests/test_reports_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reports.base import get_reporter
from tests.golden.sample import sample_run

GOLDEN = Path(__file__).parent / "golden"
FILES = {
    "json": "report.json",
    "junit": "junit.xml",
    "selftest": "selftest.json",
    "html": "report.html",
    "console": "summary.txt",
}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_reporter_matches_golden(fmt: str) -> None:
    rendered = get_reporter(fmt).render(sample_run())
    golden = GOLDEN / FILES[fmt]
    if os.environ.get("VMCERT_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


def test_rendering_is_deterministic() -> None:
    for fmt in FILES:
        reporter = get_reporter(fmt)
        assert reporter.render(sample_run()) == reporter.render(sample_run())
