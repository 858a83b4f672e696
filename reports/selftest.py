"""The ``selftest`` reporter: Microsoft's self-test API response format.

The document mirrors the inner JSON of the self-test service's response (azure-certification.md
§3a): ``SchemaVersion``, ``AppCertificationCategory``, ``OSName`` … ``Tests[]`` with ``TestID``,
``TestCaseName``, ``Description``, ``Result`` (Passed/Warning/Failed), ``ActualValue``,
``RequiredValue``. Consumers of that API can switch to vmcert by reading this file instead.

Mapping choices (the service publishes no rule for them): skipped checks are left out; a waived
failure is reported as ``Warning``; an error (no verdict) as ``Failed``; ``TestID`` is the
published numeric id when the check has one, else the vmcert check id; ``TestResult`` is ``Pass``
when the image is certified (or, judged offline, nothing listed failed), else ``Fail``. A run
with one image yields one object, a run with several yields an array of objects in image order.
"""

from __future__ import annotations

import json
from typing import Any

from checks.model import Result, Status
from reports import sanitize
from reports.base import Reporter
from reports.model import ImageReport, RunReport

SCHEMA_VERSION = 1
API_VERSION = "1.5"
CATEGORY = "Microsoft Single VM Certification"

_RESULT = {
    Status.PASS: "Passed",
    Status.WARNING: "Warning",
    Status.FAIL: "Failed",
    Status.ERROR: "Failed",
}


def _test(result: Result) -> dict[str, Any]:
    outcome = "Warning" if result.waived else _RESULT[result.status]
    description = sanitize.clean(result.message, sanitize.FIELD_LIMIT, "head")
    if result.waived and result.waiver is not None:
        description += f" (waived: {sanitize.short(result.waiver.justification)})"
    return {
        "TestID": str(result.selftest_id) if result.selftest_id is not None else result.check_id,
        "TestCaseName": result.ms_test_name or result.title,
        "Description": description,
        "Result": outcome,
        "ActualValue": sanitize.short(result.actual),
        "RequiredValue": sanitize.short(result.required),
    }


def image_document(image: ImageReport, created: str) -> dict[str, Any]:
    """The self-test response object for one image."""
    guest = image.guest
    # one entry per check: an online verdict replaces the offline one of the same id
    by_id: dict[str, Result] = {}
    for result in image.results:
        if result.status is not Status.SKIPPED:
            by_id[result.check_id] = result
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "AppCertificationCategory": CATEGORY,
        "ProviderID": "",
        "OSName": sanitize.short(guest.get("os_name", "")),
        "OSDistro": sanitize.short(guest.get("os_distro", "")),
        "KernelVersion": sanitize.short(guest.get("kernel_version", "")),
        "KernelFullVersion": sanitize.short(guest.get("kernel_full_version", "")),
        "OSVersion": sanitize.short(guest.get("os_version", "")),
        "CreatedDate": created,
        "TestResult": "Pass" if image.verdict in ("certified", "passed_offline") else "Fail",
        "APIVersion": API_VERSION,
        "Tests": [_test(result) for result in by_id.values()],
    }


class SelftestReporter(Reporter):
    """Microsoft self-test response JSON, one object per image."""

    name = "selftest"
    default_filename = "selftest.json"

    def render(self, run: RunReport) -> str:
        """One object for a single image, else an array."""
        documents = [image_document(image, run.finished) for image in run.images]
        payload: Any = documents[0] if len(documents) == 1 else documents
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
