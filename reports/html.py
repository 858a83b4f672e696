"""The ``html`` reporter: one self-contained page a publisher can open.

Summary per image, a row per check coloured by status, evidence folded in ``<details>``, the serial
log; inline CSS only, no script and nothing loaded from the network. Every piece of guest text is
sanitized and HTML-escaped.
"""

from __future__ import annotations

from html import escape

from checks.model import Result
from reports import sanitize
from reports.base import Reporter
from reports.model import ImageReport, RunReport, result_source

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1b1b1b}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
pre{white-space:pre-wrap;word-break:break-all;background:#f7f7f7;padding:.5em;
max-height:40em;overflow:auto;font-size:.85em}
.pass{background:#e6f4ea}.fail,.error{background:#fce8e6}.warning{background:#fef7e0}
.skipped{background:#f1f3f4;color:#555}.waived{background:#e8f0fe}
.verdict{font-weight:bold;padding:.1em .5em;border-radius:.3em}
.certified{background:#c8e6c9}.failed{background:#ffcdd2}.infra_error{background:#ffe0b2}
.passed_offline{background:#b2ebf2}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}
"""


def _e(text: object) -> str:
    return escape(sanitize.short(str(text)), quote=True)


def _source(result: Result, phase: str) -> str:
    """The Source cell: where the verdict's facts came from, each fact named when they differ."""
    if result.not_judged:
        return "not judged"
    where = result_source(result, phase)
    if len(set(result.sources.values())) > 1:
        where += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(result.sources.items())) + ")"
    return where


def _row(result: Result, phase: str) -> str:
    status = "waived" if result.waived else result.status.value
    source = _e(_source(result, phase))
    label = status
    if result.waiver is not None and result.waiver.expired:
        label += " (waiver expired)"
    details = ""
    evidence = sanitize.clean(result.evidence)
    if evidence or result.waiver is not None:
        parts = []
        if result.waiver is not None:
            parts.append(f"<p>Waiver: {_e(result.waiver.justification)}</p>")
        if evidence:
            parts.append(f"<pre>{escape(evidence)}</pre>")
        details = f"<details><summary>evidence</summary>{''.join(parts)}</details>"
    message = escape(sanitize.clean(result.message, sanitize.FIELD_LIMIT, "head"))
    return (
        f'<tr class="{status}"><td>{_e(result.check_id)}</td><td>{_e(result.title)}</td>'
        f"<td>{_e(result.area)}</td><td>{source}</td><td>{_e(label)}</td>"
        f"<td>{_e(result.actual)}</td><td>{_e(result.required)}</td>"
        f"<td>{message}{details}</td></tr>"
    )


def _image(image: ImageReport, index: int) -> str:
    counts = image.counts()
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    facts = [
        ("Image", image.path),
        ("Format", image.format),
        ("Virtual size", "" if image.virtual_size is None else f"{image.virtual_size} bytes"),
        ("Sparse digest", image.sparse_digest or ""),
        ("Platform", image.platform),
        ("Checks", summary or "none"),
    ]
    facts += [(k.replace("_", " ").capitalize(), v) for k, v in sorted(image.guest.items())]
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in image.timings.items())
    if timings:
        facts.append(("Timings", timings))
    if image.input_error:
        facts.append(("Input error", image.input_error))
    if image.infra_error:
        facts.append(("Infrastructure error", image.infra_error))
    facts += [("Note", note) for note in image.notes]
    for attempt in image.infra_attempts:
        facts.append((f"Attempt {attempt.attempt} ({attempt.phase})", attempt.error))
    for name, path in image.artifacts.items():
        facts.append((f"Artifact: {name}", path))
    rows = [_row(r, "offline") for r in image.offline_results]
    rows += [_row(r, "online") for r in image.online_results]
    parts = [
        f'<h2 id="image-{index}">{_e(image.path)} '
        f'<span class="verdict {image.verdict}">{image.verdict}</span></h2>',
        "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>",
        "<table><thead><tr><th>Check</th><th>Title</th><th>Area</th><th>Source</th>"
        "<th>Status</th><th>Actual</th><th>Required</th><th>Message</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
    ]
    log = sanitize.serial_log(image.serial_log)
    if log:
        parts.append(f"<details><summary>Serial log</summary><pre>{escape(log)}</pre></details>")
    return "\n".join(parts)


class HtmlReporter(Reporter):
    """A self-contained HTML page."""

    name = "html"
    default_filename = "report.html"

    def render(self, run: RunReport) -> str:
        """The page (no external resources, no script)."""
        overview = "".join(
            f'<tr><td><a href="#image-{i}">{_e(image.path)}</a></td><td>{_e(image.platform)}</td>'
            f'<td><span class="verdict {image.verdict}">{image.verdict}</span></td>'
            f"<td>{len(image.failing_ids)}</td></tr>"
            for i, image in enumerate(run.images)
        )
        waivers = run.waivers_file or "none"
        head = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>vmcert report {_e(run.run_id)}</title><style>{_CSS}</style></head><body>"
        )
        return "\n".join(
            [
                head,
                f'<h1>vmcert certification: <span class="verdict {run.verdict}">'
                f"{run.verdict}</span></h1>",
                f"<p>vmcert {_e(run.vmcert_version)}, policy {_e(run.policy)}, waivers "
                f"{_e(waivers)}, started {_e(run.started)}, finished {_e(run.finished)}</p>",
                "<table><thead><tr><th>Image</th><th>Platform</th><th>Verdict</th>"
                f"<th>Failing checks</th></tr></thead><tbody>{overview}</tbody></table>",
                *(_image(image, i) for i, image in enumerate(run.images)),
                "</body></html>",
                "",
            ]
        )
