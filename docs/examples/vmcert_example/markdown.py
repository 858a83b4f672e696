"""A reporter in one file: the run as a Markdown document (``--report markdown:report.md``).

Defining the subclass registers it under its ``name``; in vmcert itself the module would be
``reports/markdown.py`` (discovered), as a plugin it is the ``vmcert.reporters`` entry point.
"""

from __future__ import annotations

from pathlib import PurePath

from reports import sanitize
from reports.base import Reporter
from reports.model import RunReport


def cell(text: str) -> str:
    """Guest text made safe for one table cell: sanitized, one line, no table or HTML syntax."""
    flat = " ".join(sanitize.short(text).split())
    for special in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        flat = flat.replace(special, "\\" + special)
    return flat


class MarkdownReporter(Reporter):
    """One section per image: its verdict and a table of every check."""

    name = "markdown"
    default_filename = "report.md"

    def render(self, run: RunReport) -> str:
        lines = [f"# vmcert certify: {run.verdict}", ""]
        for image in run.images:
            lines += [f"## {cell(PurePath(image.path).name)}: {image.verdict}", ""]
            if image.input_error or image.infra_error:
                lines += [f"> {cell(image.input_error or image.infra_error or '')}", ""]
            lines += ["| check | status | actual | required |", "|---|---|---|---|"]
            for result in image.results:
                status = "waived" if result.waived else result.status.value
                row = (result.check_id, status, result.actual, result.required)
                lines.append("| " + " | ".join(cell(value) for value in row) + " |")
            lines.append("")
        return "\n".join(lines)
