"""The ``junit`` reporter: JUnit XML for CI (Jenkins, Azure DevOps, GitLab).

One ``<testsuite>`` per image (its name carries the image and the platform), one ``<testcase>`` per
check with ``classname`` = the check's area. A failure's message is "actual vs required"; skipped
checks carry their reason; waived failures are reported as skipped with the waiver's
justification; evidence goes to ``<system-out>``. The cases are built with the junit-xml package;
the tree is then trimmed to what the JUnit XSD that CI consumers validate against allows (junit-xml
adds a ``disabled`` attribute that the schema does not know).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import PurePath

from junit_xml import TestCase, TestSuite

from checks.model import Result, Status
from reports import sanitize
from reports.base import Reporter
from reports.model import ImageReport, RunReport, result_source

_DROP_ATTRIBUTES = ("disabled",)


def _case(result: Result, phase: str) -> TestCase:
    source = result_source(result, phase)
    name = f"{result.check_id}: {result.title}"
    if source == "offline":
        name += " [offline]"
    actual = sanitize.short(result.actual)
    required = sanitize.short(result.required)
    message = sanitize.clean(result.message)
    evidence = sanitize.clean(result.evidence)
    out = [
        f"status: {result.status.value} (severity {result.severity.value}, {source})",
        f"actual: {actual}",
        f"required: {required}",
        f"message: {message}",
    ]
    if len(result.sources) > 1:
        facts = ", ".join(f"{k}: {v}" for k, v in sorted(result.sources.items()))
        out.append(f"facts: {sanitize.short(facts)}")
    if result.waiver is not None:
        state = "expired, not applied" if result.waiver.expired else "applied"
        out.append(f"waiver ({state}): {sanitize.short(result.waiver.justification)}")
    if evidence:
        out += ["evidence:", evidence]
    case = TestCase(
        name=sanitize.short(name),
        classname=sanitize.short(result.area),
        stdout="\n".join(out),
    )
    verdict = f"actual {actual!r} vs required {required!r}: {message}"
    if result.waived:
        assert result.waiver is not None
        case.add_skipped_info(
            message=f"waived: {sanitize.short(result.waiver.justification)}", output=verdict
        )
    elif result.status is Status.FAIL:
        case.add_failure_info(message=verdict, failure_type=result.severity.value)
    elif result.status is Status.ERROR:
        case.add_error_info(message=verdict, error_type="check-error")
    elif result.status is Status.SKIPPED:
        case.add_skipped_info(message=message or "skipped")
    return case


def _suite(image: ImageReport, run: RunReport) -> TestSuite:
    cases = [_case(r, "offline") for r in image.offline_results]
    cases += [_case(r, "online") for r in image.online_results]
    if image.input_error is not None:
        case = TestCase(name="image: usable input", classname="infrastructure")
        case.add_error_info(message=sanitize.short(image.input_error), error_type="input")
        cases.append(case)
    if image.infra_error is not None:
        case = TestCase(name="infrastructure: boot and connect", classname="infrastructure")
        attempts = "\n".join(
            f"attempt {a.attempt} ({a.phase}): {sanitize.short(a.error)}"
            for a in image.infra_attempts
        )
        case.add_error_info(
            message=sanitize.short(image.infra_error), output=attempts, error_type="infra"
        )
        cases.append(case)
    properties = {
        "image": image.path,
        "format": image.format,
        "virtual_size": "" if image.virtual_size is None else str(image.virtual_size),
        "sparse_digest": image.sparse_digest or "",
        "platform": image.platform,
        "policy": run.policy,
        "vmcert_version": run.vmcert_version,
        "verdict": image.verdict,
        **{f"note_{index}": sanitize.short(note) for index, note in enumerate(image.notes, 1)},
    }
    name = f"{PurePath(image.path).name} on {image.platform or 'no platform'}"
    return TestSuite(
        name=sanitize.short(name),
        test_cases=cases,
        timestamp=run.started,
        properties={k: sanitize.short(v) for k, v in properties.items()},
        package="vmcert",
        id=str(run.images.index(image)),
        hostname="localhost",
    )


class JunitReporter(Reporter):
    """JUnit XML, valid against the XSD CI consumers use whatever bytes the guest printed."""

    name = "junit"
    default_filename = "junit.xml"

    def render(self, run: RunReport) -> str:
        """The XML document (UTF-8, indented)."""
        root = ET.Element("testsuites", {"name": f"vmcert certify {run.run_id}".strip()})
        totals = {"tests": 0, "failures": 0, "errors": 0}
        total_time = 0.0
        for image in run.images:
            element = _suite(image, run).build_xml_doc()
            for attribute in _DROP_ATTRIBUTES:
                element.attrib.pop(attribute, None)
            seconds = sum(image.timings.values())
            element.set("time", f"{seconds:.3f}")
            total_time += seconds
            for key in totals:
                totals[key] += int(element.get(key, "0"))
            root.append(element)
        for key, value in totals.items():
            root.set(key, str(value))
        root.set("time", f"{total_time:.3f}")
        ET.indent(root)
        body = ET.tostring(root, encoding="unicode")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
