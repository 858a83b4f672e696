"""The ``json`` reporter: the versioned machine-readable report (schema ``vmcert-report`` v1)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from reports.base import Reporter
from reports.model import RunReport

SCHEMA_RESOURCE = "schema/report-v1.schema.json"


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every JSON report validates against."""
    text = resources.files("reports").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class JsonReporter(Reporter):
    """One JSON document per run: image facts, platform, policy, waivers, timings, every check."""

    name = "json"
    default_filename = "report.json"

    def render(self, run: RunReport) -> str:
        """Pretty-printed UTF-8 JSON (non-ASCII kept, keys in model order)."""
        return json.dumps(run.to_dict(), indent=2, ensure_ascii=False) + "\n"
