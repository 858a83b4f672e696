"""The run model that every reporter consumes.

The runner fills a :class:`RunReport` (one :class:`ImageReport` per image); reporters only read
it. :meth:`RunReport.to_dict` is the JSON report's document (schema ``vmcert-report`` version 1,
``reports/schema/report-v1.schema.json``), which replication (H6) reads to decide whether an image
was certified.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from checks.model import JSON, Result, Status, Waiver
from reports import sanitize

SCHEMA = "vmcert-report"
SCHEMA_VERSION = 1

Verdict = Literal["certified", "failed", "infra_error", "passed_offline"]
VERDICTS: tuple[Verdict, ...] = ("certified", "failed", "infra_error", "passed_offline")
"""``passed_offline``: ``certify --offline`` found no failure in what the image's files show;
the checks that need a running system were not judged, so it is not a certification."""


@dataclass
class InfraAttempt:
    """One infrastructure failure (boot, SSH, QEMU crash); recorded apart from check results."""

    attempt: int
    """1-based boot attempt that failed."""
    phase: str
    error: str
    elapsed_s: float = 0.0


@dataclass
class ImageReport:
    """Everything known about one image's certification."""

    path: str
    format: str = "unknown"
    virtual_size: int | None = None
    sparse_digest: str | None = None
    inspection: Mapping[str, object] = field(default_factory=dict)
    """``ImageInspection.to_dict()`` of the offline inspection (empty if it could not run)."""
    platform: str = ""
    platform_facts: Mapping[str, str] = field(default_factory=dict)
    guest: dict[str, str] = field(default_factory=dict)
    """OS identity as seen in the guest: os_name, os_distro, os_version, kernel_version,
    kernel_full_version, architecture (any may be missing)."""
    offline_results: list[Result] = field(default_factory=list)
    online_results: list[Result] = field(default_factory=list)
    infra_attempts: list[InfraAttempt] = field(default_factory=list)
    infra_error: str | None = None
    """Set when the online phase could not complete after every retry."""
    input_error: str | None = None
    """Set when the image could not be used at all (not found, unreadable format)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: inspect, boot, settle, checks, teardown."""
    artifacts: dict[str, str] = field(default_factory=dict)
    """Name → path of files kept: run_dir, serial_log, probe_outputs, run_json, ..."""
    serial_log: str = ""
    """The (sanitized, tail-capped) serial console text, for the HTML report."""
    check_run: Mapping[str, JSON] = field(default_factory=dict)
    """How the online checks ran: batch mode, probe timings and errors, harness footprint."""
    offline_only: bool = False
    """Judged from the image's files alone (``certify --offline``): nothing was booted."""
    notes: list[str] = field(default_factory=list)
    """How the run went where it matters to the verdicts, shown by every reporter (for example:
    Azure provisioning failed and the other checks ran on a NoCloud re-boot)."""
    no_way_in: bool = False
    """Azure provisioning failed and the NoCloud re-boot gave no login either: nothing could be
    judged on a running system, so the image's verdict is ``infra_error`` (exit 3) even though
    ``azure_provisioning`` failed, unless a check judged from the image's files fails."""

    @property
    def results(self) -> list[Result]:
        """Offline then online results."""
        return [*self.offline_results, *self.online_results]

    @property
    def verdict(self) -> Verdict:
        """``failed`` if any result fails (waivers applied) or the input was unusable;
        else ``infra_error`` if the online phase never completed (also when there was no way in:
        see :attr:`no_way_in`); else ``passed_offline`` for
        an image judged from its files alone; else ``certified``."""
        if self.input_error is not None:
            return "failed"
        if self.no_way_in:
            return "failed" if any(r.failed for r in self.offline_results) else "infra_error"
        if any(r.failed for r in self.results):
            return "failed"
        if self.infra_error is not None:
            return "infra_error"
        return "passed_offline" if self.offline_only else "certified"

    def counts(self) -> dict[str, int]:
        """Number of results per status, plus ``waived``."""
        out = {status.value: 0 for status in Status}
        out["waived"] = 0
        for result in self.results:
            if result.waived:
                out["waived"] += 1
            else:
                out[result.status.value] += 1
        return out

    @property
    def failing_ids(self) -> list[str]:
        """Ids of the results that fail this image, in order, without duplicates."""
        seen: dict[str, None] = {}
        for result in self.results:
            if result.failed:
                seen.setdefault(result.check_id, None)
        return list(seen)

    def to_dict(self) -> dict[str, JSON]:
        """The image's entry in the JSON report (guest text sanitized and capped)."""
        return {
            "image": {
                "path": self.path,
                "format": self.format,
                "virtual_size": self.virtual_size,
                "sparse_digest": self.sparse_digest,
                "inspection": _jsonable(self.inspection),
            },
            "verdict": self.verdict,
            **({"mode": "offline"} if self.offline_only else {}),
            "platform": {"name": self.platform, "facts": _jsonable(self.platform_facts)},
            "guest": {k: sanitize.short(v) for k, v in sorted(self.guest.items())},
            "summary": self.counts(),
            "failing_checks": self.failing_ids,
            "results": [
                *(result_to_dict(r, "offline") for r in self.offline_results),
                *(result_to_dict(r, "online") for r in self.online_results),
            ],
            "infra": {
                "attempts": [
                    {
                        "attempt": a.attempt,
                        "phase": a.phase,
                        "error": sanitize.short(a.error),
                        "elapsed_s": round(a.elapsed_s, 3),
                    }
                    for a in self.infra_attempts
                ],
                "error": None if self.infra_error is None else sanitize.short(self.infra_error),
            },
            "input_error": self.input_error,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "check_run": _jsonable(self.check_run),
            "artifacts": dict(self.artifacts),
            **({"notes": [sanitize.short(n) for n in self.notes]} if self.notes else {}),
        }


@dataclass
class RunReport:
    """One ``vmcert certify`` run."""

    vmcert_version: str
    started: str
    """ISO 8601 UTC timestamp."""
    finished: str
    policy: str = "default"
    policy_overrides: Mapping[str, Mapping[str, JSON]] = field(default_factory=dict)
    waivers_file: str | None = None
    waivers: list[Waiver] = field(default_factory=list)
    run_id: str = ""
    run_dir: str | None = None
    images: list[ImageReport] = field(default_factory=list)
    selection: Mapping[str, JSON] = field(default_factory=dict)
    """Which checks the run judged: the ``include`` and ``skip`` selectors and the check ids."""

    @property
    def verdict(self) -> Verdict:
        """The worst image verdict: failed > infra_error > passed_offline > certified."""
        verdicts = {image.verdict for image in self.images}
        for worst in ("failed", "infra_error", "passed_offline"):
            if worst in verdicts:
                return worst
        return "certified"

    def to_dict(self) -> dict[str, JSON]:
        """The JSON report document (schema ``vmcert-report`` v1)."""
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "vmcert_version": self.vmcert_version,
            "run_id": self.run_id,
            "run_dir": self.run_dir,
            "started": self.started,
            "finished": self.finished,
            "verdict": self.verdict,
            "policy": {"name": self.policy, "overrides": _jsonable(self.policy_overrides)},
            "waivers": {
                "file": self.waivers_file,
                "entries": [waiver_to_dict(w) for w in self.waivers],
            },
            **({"selection": _jsonable(self.selection)} if self.selection else {}),
            "images": [image.to_dict() for image in self.images],
        }


def waiver_to_dict(waiver: Waiver) -> dict[str, JSON]:
    """A waiver as JSON."""
    return {
        "check_id": waiver.check_id,
        "justification": waiver.justification,
        "expires": waiver.expires,
        "expired": waiver.expired,
    }


def result_source(result: Result, phase: str) -> str:
    """Where the verdict came from: ``online`` when any fact it read came from the running
    system, ``offline`` when all came from the image; ``phase`` (the list the result is in) when
    it read no fact."""
    return result.source or phase


def result_to_dict(result: Result, source: str) -> dict[str, JSON]:
    """One check result as JSON (the one shape every command and report uses); ``source`` is
    the phase (``offline`` or ``online``), used when the result records no fact sources.
    ``facts`` (fact → source) and ``not_judged`` appear only when there is something to say."""
    extra: dict[str, JSON] = {}
    if result.sources:
        extra["facts"] = dict(sorted(result.sources.items()))
    if result.not_judged:
        extra["not_judged"] = sanitize.clean(result.not_judged)
    return {
        "id": result.check_id,
        "title": result.title,
        "area": result.area,
        "source": result_source(result, source),
        "status": result.status.value,
        "severity": result.severity.value,
        "failed": result.failed,
        "waived": result.waived,
        "actual": sanitize.short(result.actual),
        "required": sanitize.short(result.required),
        "message": sanitize.clean(result.message),
        "evidence": sanitize.clean(result.evidence),
        "ms_test_name": result.ms_test_name,
        "selftest_id": result.selftest_id,
        "waiver": None if result.waiver is None else waiver_to_dict(result.waiver),
        **extra,
    }


def _jsonable(value: object) -> JSON:
    """Facts made JSON-safe: mappings/sequences recursed, strings sanitized, the rest ``str``."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str | bytes):
        return sanitize.clean(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_jsonable(v) for v in value]
    return sanitize.short(str(value))
