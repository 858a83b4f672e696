"""The ``console`` reporter: the rich summary table shown at the end of a run."""

from __future__ import annotations

import io
from pathlib import Path, PurePath

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports import sanitize
from reports.base import Reporter, write_text
from reports.model import RunReport

_STYLE = {
    "certified": "bold green",
    "failed": "bold red",
    "infra_error": "bold yellow",
    "passed_offline": "bold cyan",
}


def tables(run: RunReport) -> list[Table]:
    """The summary table, then one table of the failing / warning checks per image."""
    summary = Table(title=f"vmcert certify: {run.verdict}", title_justify="left")
    for column in ("Image", "Platform", "Verdict", "Pass", "Fail", "Warn", "Skip", "Waived"):
        summary.add_column(column)
    out = [summary]
    for image in run.images:
        c = image.counts()
        summary.add_row(
            escape(sanitize.short(PurePath(image.path).name)),
            escape(image.platform),
            f"[{_STYLE[image.verdict]}]{image.verdict}[/]",
            str(c["pass"]),
            str(c["fail"] + c["error"]),
            str(c["warning"]),
            str(c["skipped"]),
            str(c["waived"]),
        )
        notable = [r for r in image.results if r.failed or r.waived or r.status.value == "warning"]
        problems = [image.input_error, image.infra_error]
        if not notable and not any(problems) and not image.notes:
            continue
        detail = Table(title=escape(sanitize.short(image.path)), title_justify="left")
        for column in ("Check", "Status", "Actual", "Required"):
            detail.add_column(column, overflow="fold")
        for problem in problems:
            if problem:
                detail.add_row("(run)", "[red]error[/]", escape(sanitize.short(problem)), "")
        for note in image.notes:
            detail.add_row("(run)", "[cyan]note[/]", escape(sanitize.short(note)), "")
        for r in notable:
            status = "waived" if r.waived else r.status.value
            colour = "blue" if r.waived else "yellow" if status == "warning" else "red"
            detail.add_row(
                escape(r.check_id),
                f"[{colour}]{status}[/]",
                escape(sanitize.short(r.actual)),
                escape(sanitize.short(r.required)),
            )
        out.append(detail)
    return out


class ConsoleReporter(Reporter):
    """Rich tables; plain text (no colour) when written to a file."""

    name = "console"
    default_filename = "summary.txt"

    def render(self, run: RunReport) -> str:
        """Plain-text rendering, 120 columns."""
        buffer = io.StringIO()
        console = Console(file=buffer, width=120, color_system=None, force_terminal=False)
        for table in tables(run):
            console.print(table)
        return buffer.getvalue()

    def write(self, run: RunReport, destination: str | Path) -> None:
        """On stdout print with colour when it is a terminal; files get plain text."""
        if str(destination) == "-":
            print_summary(run, Console(highlight=False))
            return
        write_text(destination, self.render(run))


def print_summary(run: RunReport, console: Console) -> None:
    """Print the summary tables on ``console`` (colour when it is a terminal)."""
    for table in tables(run):
        console.print(table)
