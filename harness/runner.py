"""The certification core: candidate → machine → facts → verdicts → reports, each step once.

Per image: :func:`images.candidate.load_candidate` reads the image once (inspection, extents,
sparse digest); the offline checks judge the inspection; the facts the image *ships* and first
boot rewrites (deprovisioning leftovers, credentials, histories: :attr:`checks.fact.Fact.shipped`)
are read from its files (:func:`checks.offline.read_image_facts`); the platform boots the
candidate; one SSH session waits for the guest to settle and then collects every other probe in
one batch (:func:`harness.collect.collect`); one :class:`checks.plan.CheckPlan` per check set
judges the facts, each result recording where its facts came from; the machine is torn down
whatever happens; the reporters write the run. ``vmcert check`` is the same core with the ``ssh``
platform and no image. With ``offline`` (``certify --offline``) nothing boots: every check is
judged from the image's files, those that need a running system are marked not judged.

Retries: an :class:`~harness.errors.InfraError` (boot failure, SSH drop, QEMU crash) discards the
attempt — VM, partial facts and all — and boots again, up to ``retries`` more times. Attempts are
recorded apart from check results. A check that reached a verdict is never re-run, so a failure
can't be retried into a pass.

Nothing here draws on the terminal: progress goes out as :class:`~harness.events.PhaseEvent`
values to the caller's sink (the CLI renders them).
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from checks.fact import Fact, Facts
from checks.facts.azure_provisioning import FACT as AZURE_PROVISIONING
from checks.facts.azure_provisioning import AzureProvisioning
from checks.facts.harness_footprint import FACT as HARNESS_FOOTPRINT
from checks.facts.harness_footprint import HarnessFootprint
from checks.facts.image import FACT as IMAGE
from checks.facts.os_release import FACT as OS_RELEASE
from checks.facts.uname import FACT as UNAME
from checks.model import JSON, Check, Result
from checks.plan import CheckPlan
from checks.policy import Policy
from checks.registry import CHECKS, select_checks
from checks.waivers import WaiverEntry
from harness import __version__
from harness.azure_emulator.server import REQUEST_LOG
from harness.collect import Collection, collect
from harness.errors import USER_ERRORS, ExitCode, InfraError, Interrupted
from harness.events import EventSink, Phase, PhaseEvent, ignore_events
from harness.platforms import BootContext, Machine, Platform, PlatformOptions, get_platform
from harness.platforms.base import ProvisioningFailed
from harness.policy import load_policy
from harness.probe_runner import ScriptSession
from harness.rundir import RunDir
from harness.waivers import load_waivers
from images.candidate import Candidate, load_candidate
from images.inspect import ImageInspection, inspect_image
from reports import sanitize
from reports.base import ReportSpec, get_reporter, write_text
from reports.model import ImageReport, InfraAttempt, RunReport

if TYPE_CHECKING:
    from checks.offline import OfflineCollection

KEEP_CHOICES = ("on-failure", "always", "never")
DEFAULT_REPORTS = ("json", "junit", "html")
DEFAULT_VM_MEMORY_MB = 1024

AfterReports = Callable[[RunReport, Path, Mapping[Path, Candidate]], None]
"""A hook run once the reports are written: the run, its directory and the candidates it loaded
by image path (the ``--replicate`` hook point: replication reuses their extents and digest)."""


@dataclass
class CertifyOptions:
    """Everything ``vmcert certify`` (or ``vmcert check``) was asked to do."""

    platform: str = "qemu"
    platform_options: PlatformOptions | None = None
    """The chosen platform's own options; None: its defaults."""
    policy: str | None = None
    waivers_file: Path | None = None
    reports: list[ReportSpec] = field(default_factory=list)
    jobs: int = 1
    retries: int = 1
    keep: str = "never"
    """Leave the VM running after the checks: ``never``, ``on-failure`` or ``always``."""
    fail_fast: bool = False
    include: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    run_dir: Path | None = None
    """Exact run directory (``--run-dir``); default ``./runs/<run id>/``."""
    batch: bool = True
    """Collect every probe in one exec (``False``: one exec per probe, for diagnosis)."""
    write_files: bool = True
    """Write the run directory and reports (``vmcert check`` prints instead)."""
    on_reports: Callable[[RunReport], None] | None = None
    """Called once the reports are written, also when the run was interrupted (the CLI prints
    its summary here)."""
    after_reports: list[AfterReports] = field(default_factory=list)
    offline: bool = False
    """Judge every check from the image's files and boot nothing (``certify --offline``)."""


# --------------------------------------------------------------------------------------------
# The check phase (also what the check-phase benchmark times)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckPhase:
    """What the check phase of one machine produced."""

    results: list[Result]
    collection: Collection
    facts: Facts
    """Every fact the checks saw: the given ones (offline, footprint) and the collected ones."""
    seconds: float
    """From the settled machine to verdicts: collection and evaluation."""


def run_check_phase(
    session: ScriptSession,
    plan: CheckPlan,
    given: Facts,
    *,
    batch: bool = True,
    timeout_scale: float = 1.0,
) -> CheckPhase:
    """Collect what ``plan`` needs beyond ``given`` over the open ``session`` (one batch; probe
    time limits stretched by the machine's ``timeout_scale``) and judge everything with ``plan``."""
    started = time.monotonic()
    needed = plan.facts_needed(have=given)
    collection = collect(session, needed, batch=batch, timeout_scale=timeout_scale)
    facts = given.merged(collection.facts)
    results = plan.evaluate(facts)
    return CheckPhase(results, collection, facts, time.monotonic() - started)


def offline_facts(candidate: Candidate | ImageInspection) -> Facts:
    """The facts a candidate gives without booting: its inspection (the ``image`` fact)."""
    inspection = candidate.inspection if isinstance(candidate, Candidate) else candidate
    return Facts().with_value(IMAGE, inspection, "offline")


def read_files(path: Path, facts: Sequence[Fact[object]]) -> OfflineCollection:
    """The ``facts`` (those with an offline reader) read from the image's files; see
    :func:`checks.offline.read_image_facts` (imported here, not at start-up: it loads the
    file-system libraries)."""
    from checks.offline import read_image_facts

    return read_image_facts(path, facts)


def shipped_facts(plan: CheckPlan) -> list[Fact[object]]:
    """The facts ``plan`` reads that describe what the image ships (read from its files even
    when the machine runs: first boot rewrites them)."""
    return [f for f in plan.facts_needed() if f.shipped and f.offline is not None]


# --------------------------------------------------------------------------------------------
# The run's context
# --------------------------------------------------------------------------------------------


@dataclass
class _Context:
    options: CertifyOptions
    platform: Platform
    platform_options: PlatformOptions
    policy: Policy
    waivers: list[WaiverEntry]
    offline: CheckPlan
    online: CheckPlan
    emit: EventSink
    run_dir: Path | None
    cancel: threading.Event = field(default_factory=threading.Event)
    machines: dict[int, Machine] = field(default_factory=dict)
    """Machines alive right now, so an interrupt can tear them all down at once."""
    candidates: dict[Path, Candidate] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event(self, image: Path, phase: Phase, detail: str = "") -> None:
        self.emit(PhaseEvent(image, phase, detail))

    def destroy_all(self) -> None:
        """Interrupt path: destroy every live machine (``Machine.destroy`` is idempotent)."""
        with self.lock:
            alive = list(self.machines.values())
        for machine in alive:
            try:
                machine.destroy()
            except Exception:  # teardown of the others must go on
                continue


# --------------------------------------------------------------------------------------------
# One image
# --------------------------------------------------------------------------------------------


def _guest_identity(facts: Facts) -> dict[str, str]:
    """The guest's OS identity for reports, from its parsed os-release and uname."""
    guest: dict[str, str] = {}
    os_release = facts.get(OS_RELEASE)
    if os_release is not None:
        guest["os_name"] = os_release.get("NAME")
        guest["os_distro"] = os_release.id
        guest["os_version"] = os_release.version_id
    uname = facts.get(UNAME)
    if uname is not None:
        guest["kernel_full_version"] = uname.release
        guest["kernel_version"] = uname.release.split("-")[0]
        guest["architecture"] = uname.machine
    return {k: v for k, v in guest.items() if v}


def write_probe_outputs(directory: Path, texts: Mapping[str, str | bytes]) -> None:
    """Each probe's output as ``NAME.txt`` (name made file-safe, text sanitized and capped)."""
    for name, value in texts.items():
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(name))[:80]
        write_text(directory / f"{safe}.txt", sanitize.clean(value, 1024 * 1024))


def _footprint(machine: Machine, states: Mapping[str, str]) -> HarnessFootprint:
    return HarnessFootprint(
        user=machine.user,
        added=machine.facts.get("harness_footprint", machine.footprint.describe()),
        settled=dict(states),
        login_is_deploy_user=machine.footprint.login_is_deploy_user,
    )


def _check_run(phase: CheckPhase, policy: Policy, footprint: HarnessFootprint) -> dict[str, JSON]:
    run = phase.collection.run_facts()
    run["policy"] = policy.name
    run["policy_overrides"] = list(policy.overrides)
    run["harness_footprint"] = {k: v for k, v in footprint.to_dict().items()}
    run["check_phase_seconds"] = round(phase.seconds, 3)
    return run


def _target_label(ctx: _Context) -> str:
    """What a run without an image is about (``vmcert check``): the machine the platform names."""
    return ctx.platform.describe(ctx.platform_options)


def certify_image(index: int, path: Path | None, ctx: _Context) -> ImageReport:
    """Certify one image (``None``: only the machine, as ``vmcert check`` does); never raises
    for image or infrastructure problems (they are recorded); only
    :class:`~harness.errors.Interrupted` / ``KeyboardInterrupt`` and usage errors propagate."""
    options = ctx.options
    shown = path if path is not None else Path(_target_label(ctx))
    platform = "offline" if options.offline else ctx.platform.name
    report = ImageReport(path=str(shown), platform=platform)
    image_dir = _image_dir(ctx, index, shown)
    if image_dir is not None:
        report.artifacts["run_dir"] = str(image_dir)

    if options.offline:
        if path is not None:
            _judge_offline(path, shown, report, ctx, image_dir)
        _finish_image(report, image_dir, ctx, shown)
        return report

    # ---- offline: the candidate, read once; what the image ships, from its files
    candidate: Candidate | None = None
    given = Facts()
    if path is not None:
        ctx.event(shown, Phase.INSPECT)
        started = time.monotonic()
        try:
            candidate = load_candidate(path)
            with ctx.lock:
                ctx.candidates[path] = candidate
            report.inspection = candidate.inspection.to_dict()
            report.format = candidate.format
            report.virtual_size = candidate.virtual_size
            report.sparse_digest = candidate.sparse_digest
            given = offline_facts(candidate)
            report.offline_results = ctx.offline.evaluate(given, only_judgeable=True)
        except Interrupted:
            raise
        except USER_ERRORS as exc:
            report.input_error = str(exc)
        report.timings["inspect"] = time.monotonic() - started
        shipped = shipped_facts(ctx.online)
        if report.input_error is None and shipped:
            started = time.monotonic()
            files = read_files(path, shipped)
            # a fact the files could not give has no value: it is collected online instead
            given = given.merged(files.facts)
            report.check_run = files.run_facts()
            report.timings["read_files"] = time.monotonic() - started

    skip_boot = report.input_error is not None or (
        options.fail_fast and any(r.failed for r in report.offline_results)
    )
    if skip_boot or ctx.cancel.is_set():
        if report.input_error is None and not ctx.cancel.is_set():
            report.artifacts["boot"] = "skipped: offline checks failed and --fail-fast is set"
        _finish_image(report, image_dir, ctx, shown)
        return report

    # ---- boot + checks, with infrastructure retries
    boot = _Boot(ctx, report, candidate, given, shown, image_dir)
    failed = boot.with_retries(ctx.platform_options)
    if failed is not None:
        _after_provisioning_failure(boot, failed)
    _finish_image(report, image_dir, ctx, shown)
    return report


@dataclass
class _Boot:
    """The boots of one image: attempts numbered across the run of the image."""

    ctx: _Context
    report: ImageReport
    candidate: Candidate | None
    given: Facts
    shown: Path
    image_dir: Path | None
    attempts: int = 0

    def with_retries(
        self, options: PlatformOptions, provisioning: AzureProvisioning | None = None
    ) -> ProvisioningFailed | None:
        """Boot and check, retrying infrastructure failures; the Azure provisioning failure
        (a verdict, never retried) when that is how the boot ended."""
        for _ in range(self.ctx.options.retries + 1):
            if self.ctx.cancel.is_set():
                return None
            self.attempts += 1
            ended = _attempt(
                self.ctx,
                self.report,
                self.candidate,
                self.given,
                self.shown,
                self.image_dir,
                self.attempts,
                options,
                provisioning,
            )
            if ended is not False:
                return ended if isinstance(ended, ProvisioningFailed) else None
        return None


FAIL_FAST_NOTE = "provisioning failed; --fail-fast: no re-boot, the other checks did not run"


def _after_provisioning_failure(boot: _Boot, failure: ProvisioningFailed) -> None:
    """Azure provisioning failed: record its verdict, then run the other checks on a NoCloud
    re-boot of the same image (unless ``--fail-fast``). No way in at all (that re-boot gives no
    login either) makes the image an infrastructure error, exit 3, with both diagnoses."""
    ctx, report = boot.ctx, boot.report
    fallback = None if ctx.options.fail_fast else ctx.platform.fallback(ctx.platform_options)
    note = FAIL_FAST_NOTE if fallback is None else fallback.note
    fact = replace(failure.fact, fallback=note)
    ctx.event(boot.shown, Phase.NOTICE, f"{failure.summary}; {note}")
    report.notes.append(note)
    # the verdict stands whatever the re-boot gives; a successful re-boot judges it again, with
    # every other check, from the same fact
    plan = CheckPlan(
        [c for c in ctx.online.checks if AZURE_PROVISIONING in c.facts], ctx.policy, ctx.waivers
    )
    report.online_results = plan.evaluate(
        boot.given.with_value(AZURE_PROVISIONING, fact, "harness")
    )
    if fallback is None:
        return
    boot.with_retries(fallback.options, fact)
    if report.infra_error is not None:
        report.no_way_in = True
        report.infra_error = (
            f"no way in: Azure provisioning failed ({failure.summary}) and the NoCloud re-boot "
            f"did not give a login either: {report.infra_error}"
        )


def _judge_offline(
    path: Path, shown: Path, report: ImageReport, ctx: _Context, image_dir: Path | None
) -> None:
    """``certify --offline``: inspect the image and judge every check from its files."""
    ctx.event(shown, Phase.INSPECT, "offline: reading the image's files")
    report.offline_only = True
    started = time.monotonic()
    try:
        inspection = inspect_image(path, extents=False)
    except Interrupted:
        raise
    except USER_ERRORS as exc:
        report.input_error = str(exc)
        report.timings["inspect"] = time.monotonic() - started
        return
    report.inspection = inspection.to_dict()
    report.format = str(inspection.format)
    report.virtual_size = inspection.virtual_size
    report.timings["inspect"] = time.monotonic() - started
    started = time.monotonic()
    plan = ctx.offline
    files = read_files(path, [f for f in plan.facts_needed() if f.probed])
    facts = offline_facts(inspection).merged(files.facts)
    ctx.event(shown, Phase.CHECKS, f"offline: {len(plan.to_run)} checks")
    report.offline_results = plan.evaluate(facts, unavailable=files.unavailable)
    report.check_run = {**files.run_facts(), "policy": ctx.policy.name}
    report.timings["read_files"] = time.monotonic() - started
    if image_dir is not None and files.facts.raw:
        write_probe_outputs(image_dir / "files", files.facts.raw)
        report.artifacts["file_facts"] = str(image_dir / "files")


def _attempt(
    ctx: _Context,
    report: ImageReport,
    candidate: Candidate | None,
    given: Facts,
    shown: Path,
    image_dir: Path | None,
    attempt: int,
    options: PlatformOptions,
    provisioning: AzureProvisioning | None = None,
) -> bool | ProvisioningFailed:
    """One boot attempt with ``options``; True when no further attempt should follow, the
    failure when Azure provisioning failed. ``provisioning`` is the ``azure_provisioning`` fact
    to judge (that of an earlier boot) instead of this machine's own."""
    machine: Machine | None = None
    phase = Phase.BOOT
    attempt_started = time.monotonic()
    work = None if image_dir is None else image_dir / f"attempt{attempt}"
    try:
        ctx.event(shown, Phase.BOOT, f"attempt {attempt}")
        if work is not None:
            work.mkdir(parents=True, exist_ok=True)

        def notify(note: str) -> None:
            ctx.event(shown, Phase.NOTICE, note)

        # the console and the Azure request log are copied here at teardown, on every exit path
        serial = None if work is None else work / "serial.log"
        # a machine that may be kept must not die with vmcert (QEMU's PDEATHSIG, the Azure
        # emulator's keeper); one not kept after all is destroyed at teardown as usual
        context = BootContext(
            run_dir=work,
            cancel=ctx.cancel,
            notify=notify,
            serial_log_to=serial,
            keep=ctx.options.keep != "never",
        )
        machine = ctx.platform.boot(candidate, options, context)
        with ctx.lock:
            ctx.machines[id(machine)] = machine  # Machine is an unhashable dataclass
        report.timings["boot"] = time.monotonic() - attempt_started
        phase = Phase.SETTLE
        ctx.event(shown, Phase.SETTLE, "cloud-init / systemd")
        settle_started = time.monotonic()
        # one session for settling and collecting: the check phase needs no login of its own
        with machine.session() as session:
            states = machine.wait_settled(session=session)
            report.timings["settle"] = time.monotonic() - settle_started
            report.platform_facts = dict(machine.facts)
            phase = Phase.CHECKS
            ctx.event(shown, Phase.CHECKS, f"{len(ctx.online.to_run)} checks")
            footprint = _footprint(machine, states.as_dict())
            if provisioning is None:
                provisioning = machine.provisioning()
            check_phase = run_check_phase(
                session,
                ctx.online,
                given.with_value(HARNESS_FOOTPRINT, footprint, "harness").with_value(
                    AZURE_PROVISIONING, provisioning, "harness"
                ),
                batch=ctx.options.batch,
                timeout_scale=machine.timeout_scale,
            )
        report.timings["checks"] = check_phase.seconds
        report.online_results = check_phase.results
        report.check_run = {**report.check_run, **_check_run(check_phase, ctx.policy, footprint)}
        report.guest = _guest_identity(check_phase.facts)
        if image_dir is not None:
            write_probe_outputs(image_dir / "probes", check_phase.facts.raw)
            report.artifacts["probe_outputs"] = str(image_dir / "probes")
        report.infra_error = None
        return True
    except ProvisioningFailed as failure:
        if ctx.cancel.is_set():
            return True
        report.infra_error = None  # an earlier attempt's, if any: this boot got further
        _keep_request_log(report, work)
        return failure
    except InfraError as exc:
        if ctx.cancel.is_set():
            return True  # the run is being interrupted: this is not an infrastructure failure
        elapsed = time.monotonic() - attempt_started
        report.infra_attempts.append(InfraAttempt(attempt, phase.value, str(exc), elapsed))
        report.infra_error = f"{phase.value} failed after {attempt} attempt(s): {exc}"
        ctx.event(shown, Phase.FAILED, f"{phase.value}, attempt {attempt}: {exc}")
        return False
    except Interrupted:
        raise
    except USER_ERRORS:
        raise  # usage and configuration errors end the run
    except Exception as exc:  # a bug below us: keep the other images and the reports
        elapsed = time.monotonic() - attempt_started
        detail = f"internal error: {type(exc).__name__}: {exc}"
        report.infra_attempts.append(InfraAttempt(attempt, phase.value, detail, elapsed))
        report.infra_error = f"{phase.value} failed ({detail}); not retried"
        if image_dir is not None:
            write_text(image_dir / "internal-error.txt", traceback.format_exc())
            report.artifacts["internal_error"] = str(image_dir / "internal-error.txt")
        ctx.event(shown, Phase.FAILED, f"{phase.value}: {detail}")
        return True
    finally:
        if machine is not None:
            _teardown(ctx, machine, report, shown, image_dir, attempt)
            _keep_request_log(report, work)


def _keep_request_log(report: ImageReport, work: Path | None) -> None:
    """Link the Azure request log the teardown kept (``--provision azure``) from the reports."""
    log = None if work is None else work / REQUEST_LOG
    if log is not None and log.is_file():
        report.artifacts["azure_request_log"] = str(log)


def _teardown(
    ctx: _Context,
    machine: Machine,
    report: ImageReport,
    shown: Path,
    image_dir: Path | None,
    attempt: int,
) -> None:
    with ctx.lock:
        ctx.machines.pop(id(machine), None)
    ctx.event(shown, Phase.TEARDOWN)
    started = time.monotonic()
    if image_dir is not None:
        _save_serial(machine, image_dir, report, attempt)
    keep = ctx.options.keep == "always" or (
        ctx.options.keep == "on-failure" and report.verdict != "certified"
    )
    try:
        if keep:
            ctx.event(shown, Phase.KEPT, f"VM kept running; reach it with: {machine.access_hint()}")
            stop = machine.facts.get("stop_hint")
            if stop:
                ctx.event(shown, Phase.KEPT, f"stop it with: {stop}")
        else:
            machine.destroy()
    except InfraError as exc:  # a failed teardown must not hide the verdict
        report.artifacts["teardown_error"] = sanitize.short(str(exc))
    report.timings["teardown"] = report.timings.get("teardown", 0.0) + (time.monotonic() - started)


def _save_serial(machine: Machine, image_dir: Path, report: ImageReport, attempt: int) -> None:
    log = machine.serial_log
    if log is None or not log.is_file():
        return
    with open(log, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - 4 * sanitize.SERIAL_LOG_LIMIT))
        text = handle.read()
    if not text:
        return
    name = "serial.log" if report.infra_error is None else f"serial-attempt{attempt}.log"
    write_text(image_dir / name, sanitize.serial_log(text))
    report.artifacts["serial_log"] = str(image_dir / name)
    report.serial_log = sanitize.serial_log(text)


def _image_dir(ctx: _Context, index: int, path: Path) -> Path | None:
    if ctx.run_dir is None:
        return None
    return RunDir(ctx.run_dir, "").image_dir(index, path)


def _finish_image(report: ImageReport, image_dir: Path | None, ctx: _Context, shown: Path) -> None:
    if image_dir is not None:
        run_json = {
            "image": report.path,
            "verdict": report.verdict,
            "timings": {k: round(v, 3) for k, v in report.timings.items()},
            "attempts": [a.__dict__ for a in report.infra_attempts],
            "failing_checks": report.failing_ids,
        }
        write_text(image_dir / "run.json", json.dumps(run_json, indent=2) + "\n")
        report.artifacts["run_json"] = str(image_dir / "run.json")
    ctx.event(shown, Phase.DONE, f"{report.verdict}, {len(report.failing_ids)} failing")


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def memory_available_mb() -> int | None:
    """``MemAvailable`` from /proc/meminfo in MiB (``None`` when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def effective_jobs(requested: int, images: int, vm_memory_mb: int = DEFAULT_VM_MEMORY_MB) -> int:
    """``requested`` capped by the number of images, the cores, and available memory / VM size."""
    cap = min(max(1, requested), max(1, images), os.cpu_count() or 1)
    available = memory_available_mb()
    if available is not None:
        cap = min(cap, max(1, available // max(1, vm_memory_mb)))
    return cap


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exit_code(run: RunReport) -> ExitCode:
    """2 if an image was unusable, else 1 if any failed, else 3 on infrastructure error, else 0
    (also for ``passed_offline``)."""
    if any(image.input_error is not None for image in run.images):
        return ExitCode.USAGE
    return {
        "failed": ExitCode.FAILED,
        "infra_error": ExitCode.INFRA,
        "certified": ExitCode.OK,
        "passed_offline": ExitCode.OK,
    }[run.verdict]


@dataclass(frozen=True)
class Selection:
    """The checks a run judges: offline ones on the image, online ones on the machine."""

    offline: list[Check]
    online: list[Check]

    @classmethod
    def of(cls, include: Sequence[str] = (), skip: Sequence[str] = ()) -> Selection:
        """The registered checks matching ``include`` (all when empty) minus ``skip``."""
        return cls(
            select_checks(include, skip, tag="offline"), select_checks(include, skip, tag="online")
        )

    @property
    def ids(self) -> list[str]:
        """Every selected check id, each once."""
        return list(dict.fromkeys(c.id for c in [*self.offline, *self.online]))

    @property
    def everything(self) -> list[Check]:
        """Every selected check once, the offline-tagged ones first (``certify --offline``)."""
        return list({c.id: c for c in [*self.offline, *self.online]}.values())


def certify(
    images: Sequence[Path | None],
    options: CertifyOptions,
    *,
    platform: Platform | None = None,
    checks: Selection | None = None,
    events: EventSink | None = None,
) -> tuple[RunReport, Path | None]:
    """Certify ``images`` and write the reports; returns the run model and the run directory.

    ``platform`` (default: the one ``options.platform`` names) and ``checks`` (default: the
    registered checks ``options.include``/``skip`` select) may be passed in; ``events`` receives
    every phase change (default: ignored). An image of ``None`` certifies the machine alone (the
    ``ssh`` platform's host, as ``vmcert check`` does).
    """
    selection = checks if checks is not None else Selection.of(options.include, options.skip)
    policy = load_policy(options.policy, list(CHECKS))
    waivers = load_waivers(options.waivers_file, CHECKS.names()) if options.waivers_file else []
    chosen = platform if platform is not None else get_platform(options.platform)
    platform_options = options.platform_options or chosen.options_type()
    rundir = (
        RunDir.create(options.run_dir, exact=options.run_dir is not None)
        if options.write_files
        else None
    )
    run = RunReport(
        vmcert_version=__version__,
        started=_now(),
        finished="",
        policy=policy.name if options.policy is None else options.policy,
        policy_overrides={str(k): dict(v) for k, v in policy.params.items()},
        waivers_file=None if options.waivers_file is None else str(options.waivers_file),
        waivers=[entry.as_waiver() for entry in waivers],
        run_id=rundir.run_id if rundir is not None else "",
        run_dir=None if rundir is None else str(rundir.path),
        selection={
            "include": list(options.include),
            "skip": list(options.skip),
            "checks": selection.ids,
        },
    )
    ctx = _Context(
        options=options,
        platform=chosen,
        platform_options=platform_options,
        policy=policy,
        waivers=list(waivers),
        offline=CheckPlan(
            selection.everything if options.offline else selection.offline, policy, waivers
        ),
        online=CheckPlan(selection.online, policy, waivers),
        emit=events or ignore_events,
        run_dir=None if rundir is None else rundir.path,
    )
    jobs = effective_jobs(options.jobs, len(images))
    reports: list[ImageReport | None] = [None] * len(images)
    interrupted: BaseException | None = None
    try:
        if jobs == 1:
            for i, p in enumerate(images):
                reports[i] = certify_image(i, p, ctx)
        else:
            _certify_parallel(images, ctx, jobs, reports)
    except (Interrupted, KeyboardInterrupt) as exc:
        interrupted = exc
    run.images = [
        report if report is not None else _interrupted_report(path, ctx, index)
        for index, (path, report) in enumerate(zip(images, reports, strict=True))
    ]
    run.finished = _now()
    # an interrupted run still leaves reports: finished images as they ended, the rest marked
    if rundir is not None:
        write_reports(run, rundir.path, options)
    if options.on_reports is not None:
        options.on_reports(run)
    if interrupted is not None:
        raise interrupted
    if rundir is not None:
        for hook in options.after_reports:
            hook(run, rundir.path, dict(ctx.candidates))
    return run, None if rundir is None else rundir.path


def _certify_parallel(
    images: Sequence[Path | None], ctx: _Context, jobs: int, reports: list[ImageReport | None]
) -> None:
    """Certify up to ``jobs`` images at once, filling ``reports`` as they finish."""
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="certify") as pool:
        futures = [pool.submit(certify_image, i, p, ctx) for i, p in enumerate(images)]
        try:
            for index, future in enumerate(futures):
                reports[index] = future.result()
        except BaseException:
            # queued images never start; booting ones give up at their next SSH poll (the
            # platform sees ctx.cancel) and running ones lose their VM now
            ctx.cancel.set()
            for future in futures:
                future.cancel()
            ctx.destroy_all()
            pool.shutdown(wait=True)
            for index, future in enumerate(futures):
                finished = future.done() and not future.cancelled()
                if reports[index] is None and finished and future.exception() is None:
                    reports[index] = future.result()
            raise


def _interrupted_report(path: Path | None, ctx: _Context, index: int) -> ImageReport:
    """The report of an image the run was interrupted before finishing."""
    shown = path if path is not None else Path(_target_label(ctx))
    report = ImageReport(path=str(shown), platform=ctx.platform.name)
    image_dir = _image_dir(ctx, index, shown)
    if image_dir is not None:
        report.artifacts["run_dir"] = str(image_dir)
    report.infra_error = "interrupted before this image finished (SIGINT/SIGTERM); no verdict"
    return report


def write_reports(run: RunReport, run_dir: Path, options: CertifyOptions) -> None:
    """Per-image JSON reports, then the requested run reports (defaults when none were asked)."""
    json_reporter = get_reporter("json")
    for image in run.images:
        single = RunReport(**{**run.__dict__, "images": [image]})
        json_reporter.write(single, Path(image.artifacts["run_dir"]) / "report.json")
    for spec in report_specs(options):
        get_reporter(spec.format).write(run, spec.resolve(run_dir))


def report_specs(options: CertifyOptions) -> list[ReportSpec]:
    """The reports a run writes: those asked for, else the defaults in the run directory."""
    return options.reports or [ReportSpec(fmt) for fmt in DEFAULT_REPORTS]
