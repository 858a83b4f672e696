"""Whether an image may leave: its certification report must certify exactly its content.

The report is the JSON report of ``vmcert certify``; an image is approved when an entry with the
same sparse digest has the verdict ``certified``. The digest, not the path, is what ties the
report to the bytes being replicated.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import InputError
from harness.replication.record import Approval


class ApprovalError(InputError):
    """The image is not approved for replication (exit 2)."""


def check_approval(report: Path | None, digest: str, *, force: bool) -> Approval:
    """Whether the image may be replicated: a certified report entry with its digest, or force.

    Raises :class:`ApprovalError` (exit 2) with one line naming the report and the fix.
    """
    if force:
        return {"approved": False, "forced": True, "note": "replicated with --force, not approved"}
    if report is None:
        raise ApprovalError(
            "not approved: pass --report REPORT.json (a vmcert certify report that certifies this "
            "image) or --force"
        )
    try:
        data: object = json.loads(report.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ApprovalError(f"{report}: report file not found; run vmcert certify first") from None
    except (OSError, ValueError) as exc:
        raise ApprovalError(f"{report}: not a readable JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != "vmcert-report":
        raise ApprovalError(f"{report}: not a vmcert report (schema is not 'vmcert-report')")
    if data.get("schema_version") != 1:
        raise ApprovalError(
            f"{report}: unsupported report schema_version {data.get('schema_version')!r}"
        )
    images = data.get("images", [])
    entries: list[dict[str, object]] = [
        e
        for e in (images if isinstance(images, list) else [])
        if isinstance(e, dict) and _image(e).get("sparse_digest") == digest
    ]
    if not entries:
        raise ApprovalError(
            f"{report}: no entry for this image (sparse digest {digest[:16]}…); the report is for "
            "other content: certify this image or pass --force"
        )
    certified = [e for e in entries if e.get("verdict") == "certified"]
    if not certified:
        verdict = entries[0].get("verdict")
        raise ApprovalError(
            f"{report}: this image's verdict is {verdict!r}, not 'certified'; fix the failures and "
            "certify again, or pass --force"
        )
    path = _image(certified[0]).get("path")
    return {
        "approved": True,
        "forced": False,
        "report": str(report),
        "verdict": "certified",
        "report_image_path": path if isinstance(path, str) else None,
    }


def _image(entry: dict[str, object]) -> dict[str, object]:
    """An entry's ``image`` object (empty when the entry has none)."""
    image = entry.get("image")
    return image if isinstance(image, dict) else {}
