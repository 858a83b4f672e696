"""``vmcert certify``: offline inspection → boot → checks → reports → teardown, per image.

Every call into the other parts of vmcert (image inspection, platforms, the check runner, policy
and waivers) goes through the small adapter functions at the top of this module, so the
orchestration below depends on a handful of names only.

Retries: an :class:`~harness.errors.InfraError` (boot failure, SSH drop, QEMU crash) discards the
attempt — VM, partial facts and all — and boots again, up to ``retries`` more times. Attempts are
recorded apart from check results. A check that reached a verdict is never re-run, so a failure
can't be retried into a pass.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from checks.model import Check, Result, Waiver
from harness import __version__
from harness.errors import ExitCode, InfraError, Interrupted, VmcertError
from reports import sanitize
from reports.base import ReportSpec, get_reporter, write_text
from reports.model import ImageReport, InfraAttempt, RunReport

KEEP_CHOICES = ("on-failure", "always", "never")
DEFAULT_REPORTS = ("json", "junit", "html")
DEFAULT_VM_MEMORY_MB = 1024


# --------------------------------------------------------------------------------------------
# Adapters to the other parts (kept in one place on purpose)
# --------------------------------------------------------------------------------------------


def _api(module: str, attribute: str) -> Any:
    """``module.attribute`` imported late (other parts land independently; a missing one is an
    infrastructure error naming it rather than an import failure at start-up)."""
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise InfraError(f"{module}.{attribute} is not available in this vmcert: {exc}") from None


def _inspect(path: Path) -> Any:
    return _api("images.inspect", "inspect_image")(path)


def _sparse_digest(path: Path) -> str:
    return str(_api("images.extents", "sparse_digest")(path))


def _select(tag: str, include: Sequence[str], skip: Sequence[str]) -> list[Check]:
    from checks.registry import load_builtin_checks, select_checks

    load_builtin_checks()
    return select_checks(include, skip, tag=tag)


def _load_policy(name: str | None) -> Any:
    """Validated against every registered check (not just the selected ones)."""
    return _api("harness.policy", "load_policy")(name)


def _load_waivers(path: Path | None) -> list[Any]:
    if path is None:
        return []
    from checks.registry import CHECKS

    return list(_api("harness.waivers", "load_waivers")(path, CHECKS.names()))


def _platform(name: str) -> Any:
    return _api("harness.platforms", "PLATFORMS").get(name)


def _run_checks(machine: Any, checks: list[Check], ctx: _Context, offline: dict[str, Any]) -> Any:
    run_checks = _api("harness.probe_runner", "run_checks")
    return run_checks(
        machine, checks, policy=ctx.policy, waivers=ctx.waivers, offline_facts=offline or None
    )


def _offline_results(inspection: Any, checks: list[Check], ctx: _Context) -> list[Result]:
    """Evaluate the offline checks on the inspection's facts, with policy and waivers applied
    exactly as :func:`harness.probe_runner.run_checks` does for the online ones."""
    facts = _offline_facts(inspection)
    not_run = _api("harness.waivers", "not_run")(ctx.waivers)
    skipped_result = _api("harness.waivers", "skipped_result")
    results: list[Result] = []
    for item in checks:
        if not set(item.facts) & set(facts):
            continue  # judged online only: listing it as an offline skip would be noise
        if item.id in not_run:
            results.append(skipped_result(item, not_run[item.id]))
        else:
            results.append(item.run(facts, ctx.policy.for_check(item.id)))
    return list(_api("harness.waivers", "apply_waivers")(results, ctx.waivers))


def _offline_facts(inspection: Any) -> dict[str, Any]:
    """The facts offline inspection provides: the ``image`` fact (the ImageInspection)."""
    return {"image": inspection}


def _waiver_list(entries: list[Any]) -> list[Waiver]:
    return [entry.as_waiver() for entry in entries]


def _policy_description(policy: Any) -> tuple[str, dict[str, Any]]:
    params = getattr(policy, "params", {}) or {}
    return str(policy.name), {str(k): dict(v) for k, v in params.items()}


# --------------------------------------------------------------------------------------------
# Options, progress, context
# --------------------------------------------------------------------------------------------


@dataclass
class CertifyOptions:
    """Everything ``vmcert certify`` was asked to do."""

    platform: str = "qemu"
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
    console_summary: bool = True
    after_reports: list[Callable[[RunReport, Path], None]] = field(default_factory=list)
    """Hooks run once the reports are written (the ``--replicate`` hook point)."""


class Progress:
    """Phase / elapsed / checks done per image: a rich live table on a terminal, plain
    timestamped lines otherwise (not a TTY, or ``CI`` set)."""

    def __init__(self, images: Sequence[Path]) -> None:
        from harness.console import interactive

        self._lock = threading.Lock()
        # image -> [phase, started (None while queued), detail]
        self._state: dict[str, list[Any]] = {str(p): ["queued", None, ""] for p in images}
        self._live: Any = None
        if interactive():
            from rich.live import Live

            from harness.console import stderr

            self._live = Live(
                console=stderr, get_renderable=self._table, refresh_per_second=2, transient=True
            )

    def __enter__(self) -> Progress:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title="vmcert certify", title_justify="left")
        for column in ("Image", "Phase", "Elapsed", "Detail"):
            table.add_column(column)
        now = time.monotonic()
        with self._lock:
            rows = [(image, *state) for image, state in self._state.items()]
        for image, phase, started, detail in rows:
            elapsed = "" if started is None else f"{now - started:5.0f} s"
            table.add_row(Path(image).name, phase, elapsed, detail)
        return table

    def update(self, image: Path, phase: str, detail: str = "") -> None:
        """Record that ``image`` entered ``phase`` (``detail``: checks done, attempt, ...)."""
        from harness.console import notice

        with self._lock:
            state = self._state.setdefault(str(image), ["queued", None, ""])
            state[0], state[2] = phase, detail
            if state[1] is None:
                state[1] = time.monotonic()
        if self._live is None:
            notice(f"{image.name}: {phase}{f' ({detail})' if detail else ''}")


@dataclass
class _Context:
    options: CertifyOptions
    policy: Any
    waivers: Any
    progress: Progress
    run_dir: Path
    offline_checks: list[Check]
    online_checks: list[Check]
    cancel: threading.Event = field(default_factory=threading.Event)
    machines: dict[int, Any] = field(default_factory=dict)
    """Machines alive right now, so an interrupt can tear them all down at once."""
    lock: threading.Lock = field(default_factory=threading.Lock)

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


def _guest_identity(facts: dict[str, Any]) -> dict[str, str]:
    from checks.common import key_values
    from checks.probes import parse_os_release

    guest: dict[str, str] = {}
    os_release = facts.get("os_release")
    if isinstance(os_release, str):
        info = parse_os_release(os_release)
        guest["os_name"] = info.get("NAME", "")
        guest["os_distro"] = info.get("ID", "")
        guest["os_version"] = info.get("VERSION_ID", "")
    uname = facts.get("uname")
    if isinstance(uname, str):
        kv = key_values(uname)
        release = kv.get("release", "")
        guest["kernel_full_version"] = release
        guest["kernel_version"] = release.split("-")[0]
        if kv.get("machine"):
            guest["architecture"] = kv["machine"]
    return {k: v for k, v in guest.items() if v}


def _write_probe_outputs(directory: Path, facts: dict[str, Any]) -> None:
    for name, value in facts.items():
        if not isinstance(value, str | bytes):
            continue  # offline objects (the image inspection) are in the JSON report already
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(name))[:80]
        write_text(directory / f"{safe}.txt", sanitize.clean(value, 1024 * 1024))


def _destroy(machine: Any, keep: bool, image: Path) -> None:
    from harness.console import notice

    if keep:
        hint = getattr(machine, "access_hint", None)
        notice(f"{image.name}: VM kept running" + (f"; reach it with: {hint()}" if hint else ""))
        stop = (getattr(machine, "facts", None) or {}).get("stop_hint")
        if stop:
            notice(f"{image.name}: stop it with: {stop}")
        return
    machine.destroy()


def certify_image(index: int, path: Path, ctx: _Context) -> ImageReport:
    """Certify one image: never raises for image or infrastructure problems (they are recorded);
    only :class:`~harness.errors.Interrupted` / ``KeyboardInterrupt`` propagate."""
    options = ctx.options
    report = ImageReport(path=str(path), platform=options.platform)
    image_dir = _image_dir(ctx, index, path)
    report.artifacts["run_dir"] = str(image_dir)
    progress = ctx.progress

    # ---- offline inspection
    progress.update(path, "inspect")
    started = time.monotonic()
    inspection: Any = None
    try:
        inspection = _inspect(path)
        data = inspection.to_dict()
        report.inspection = data
        report.format = str(data.get("format", report.format))
        size = data.get("virtual_size")
        report.virtual_size = int(size) if isinstance(size, int) else None
        report.sparse_digest = _sparse_digest(path)
        report.offline_results = _offline_results(inspection, ctx.offline_checks, ctx)
    except VmcertError as exc:
        if isinstance(exc, Interrupted):
            raise
        report.input_error = str(exc)
    report.timings["inspect"] = time.monotonic() - started

    skip_boot = report.input_error is not None or (
        options.fail_fast and any(r.failed for r in report.offline_results)
    )
    if skip_boot or ctx.cancel.is_set():
        if report.input_error is None and not ctx.cancel.is_set():
            report.artifacts["boot"] = "skipped: offline checks failed and --fail-fast is set"
        _finish_image(report, image_dir, progress, path)
        return report

    # ---- boot + checks, with infrastructure retries
    platform = _platform(options.platform)
    offline_facts = _offline_facts(inspection) if inspection is not None else {}
    for attempt in range(1, options.retries + 2):
        if ctx.cancel.is_set():
            break
        machine: Any = None
        phase = "boot"
        attempt_started = time.monotonic()
        try:
            progress.update(path, "boot", f"attempt {attempt}")
            machine = _boot(platform, path, image_dir, attempt, ctx.cancel)
            with ctx.lock:
                ctx.machines[id(machine)] = machine  # Machine is an unhashable dataclass
            report.timings["boot"] = time.monotonic() - attempt_started
            phase = "settle"
            progress.update(path, "settle", "cloud-init / systemd")
            settle_started = time.monotonic()
            machine.wait_settled()
            report.timings["settle"] = time.monotonic() - settle_started
            report.platform_facts = dict(getattr(machine, "facts", {}) or {})
            phase = "checks"
            progress.update(path, "checks", f"{len(ctx.online_checks)} checks")
            checks_started = time.monotonic()
            run = _run_checks(machine, ctx.online_checks, ctx, offline_facts)
            report.timings["checks"] = time.monotonic() - checks_started
            report.online_results = list(run.results)
            report.check_run = dict(run.run_facts())
            facts = dict(getattr(run, "facts", {}) or {})
            report.guest = _guest_identity(facts)
            _write_probe_outputs(image_dir / "probes", facts)
            report.artifacts["probe_outputs"] = str(image_dir / "probes")
            report.infra_error = None
            break
        except InfraError as exc:
            if ctx.cancel.is_set():
                break  # the run is being interrupted: this is not an infrastructure failure
            elapsed = time.monotonic() - attempt_started
            report.infra_attempts.append(InfraAttempt(attempt, phase, str(exc), elapsed))
            report.infra_error = f"{phase} failed after {attempt} attempt(s): {exc}"
            progress.update(path, f"{phase} failed", f"attempt {attempt}: {exc}")
        except VmcertError:
            raise  # usage/config errors and interrupts end the run
        except Exception as exc:  # a bug below us: keep the other images and the reports
            import traceback

            elapsed = time.monotonic() - attempt_started
            detail = f"internal error: {type(exc).__name__}: {exc}"
            report.infra_attempts.append(InfraAttempt(attempt, phase, detail, elapsed))
            report.infra_error = f"{phase} failed ({detail}); not retried"
            write_text(image_dir / "internal-error.txt", traceback.format_exc())
            report.artifacts["internal_error"] = str(image_dir / "internal-error.txt")
            progress.update(path, f"{phase} failed", detail)
            break
        finally:
            if machine is not None:
                with ctx.lock:
                    ctx.machines.pop(id(machine), None)
                progress.update(path, "teardown")
                teardown_started = time.monotonic()
                _save_serial(machine, image_dir, report, attempt)
                keep = options.keep == "always" or (
                    options.keep == "on-failure" and report.verdict != "certified"
                )
                try:
                    _destroy(machine, keep, path)
                except InfraError as exc:  # a failed teardown must not hide the verdict
                    report.artifacts["teardown_error"] = sanitize.short(str(exc))
                report.timings["teardown"] = report.timings.get("teardown", 0.0) + (
                    time.monotonic() - teardown_started
                )
    _finish_image(report, image_dir, progress, path)
    return report


def _boot(platform: Any, path: Path, image_dir: Path, attempt: int, cancel: threading.Event) -> Any:
    options = _replace(_api("harness.platforms", "BootOptions")(), "cancel", cancel)
    # the platform's files (overlay, seed, key) live in the image's run dir sub-directory
    work = image_dir / f"attempt{attempt}"
    work.mkdir(parents=True, exist_ok=True)
    options = _replace(options, "run_dir", work)
    instance = platform() if isinstance(platform, type) else platform
    return instance.boot(path, options)


def _replace(options: Any, name: str, value: Any) -> Any:
    import dataclasses

    if not hasattr(options, name):
        return options
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        return dataclasses.replace(options, **{name: value})
    setattr(options, name, value)
    return options


def _save_serial(machine: Any, image_dir: Path, report: ImageReport, attempt: int) -> None:
    log = getattr(machine, "serial_log", None)
    text: str | bytes = ""
    if isinstance(log, Path | str) and Path(log).is_file():
        with open(log, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 4 * sanitize.SERIAL_LOG_LIMIT))
            text = handle.read()
    elif isinstance(log, str | bytes):
        text = log
    if not text:
        return
    name = "serial.log" if report.infra_error is None else f"serial-attempt{attempt}.log"
    write_text(image_dir / name, sanitize.serial_log(text))
    report.artifacts["serial_log"] = str(image_dir / name)
    report.serial_log = sanitize.serial_log(text)


def _image_dir(ctx: _Context, index: int, path: Path) -> Path:
    from harness.rundir import RunDir

    return RunDir(ctx.run_dir, "").image_dir(index, path)


def _finish_image(report: ImageReport, image_dir: Path, progress: Progress, path: Path) -> None:
    run_json = {
        "image": report.path,
        "verdict": report.verdict,
        "timings": {k: round(v, 3) for k, v in report.timings.items()},
        "attempts": [a.__dict__ for a in report.infra_attempts],
        "failing_checks": report.failing_ids,
    }
    write_text(image_dir / "run.json", json.dumps(run_json, indent=2) + "\n")
    report.artifacts["run_json"] = str(image_dir / "run.json")
    progress.update(path, report.verdict, f"{len(report.failing_ids)} failing")


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
    """2 if an image was unusable, else 1 if any failed, else 3 on infrastructure error, else 0."""
    if any(image.input_error is not None for image in run.images):
        return ExitCode.USAGE
    return {
        "failed": ExitCode.FAILED,
        "infra_error": ExitCode.INFRA,
        "certified": ExitCode.OK,
    }[run.verdict]


def certify(images: Sequence[Path], options: CertifyOptions) -> tuple[RunReport, Path]:
    """Certify ``images`` and write the reports; returns the run model and the run directory."""
    from harness.rundir import RunDir

    offline_checks = _select("offline", options.include, options.skip)
    online_checks = _select("online", options.include, options.skip)
    policy = _load_policy(options.policy)
    waivers = _load_waivers(options.waivers_file)
    _platform(options.platform)  # an unknown platform is a usage error before anything runs
    rundir = RunDir.create(options.run_dir, exact=options.run_dir is not None)
    policy_name, overrides = _policy_description(policy)
    run = RunReport(
        vmcert_version=__version__,
        started=_now(),
        finished="",
        policy=policy_name if options.policy is None else options.policy,
        policy_overrides=overrides,
        waivers_file=None if options.waivers_file is None else str(options.waivers_file),
        waivers=_waiver_list(waivers),
        run_id=rundir.run_id,
        run_dir=str(rundir.path),
    )
    progress = Progress(images)
    ctx = _Context(options, policy, waivers, progress, rundir.path, offline_checks, online_checks)
    jobs = effective_jobs(options.jobs, len(images))
    reports: list[ImageReport | None] = [None] * len(images)
    interrupted: BaseException | None = None
    with progress:
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
    write_reports(run, rundir.path, options)
    if interrupted is not None:
        raise interrupted
    for hook in options.after_reports:
        hook(run, rundir.path)
    return run, rundir.path


def _certify_parallel(
    images: Sequence[Path], ctx: _Context, jobs: int, reports: list[ImageReport | None]
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


def _interrupted_report(path: Path, ctx: _Context, index: int) -> ImageReport:
    """The report of an image the run was interrupted before finishing."""
    report = ImageReport(path=str(path), platform=ctx.options.platform)
    report.artifacts["run_dir"] = str(_image_dir(ctx, index, path))
    report.infra_error = "interrupted before this image finished (SIGINT/SIGTERM); no verdict"
    return report


def write_reports(run: RunReport, run_dir: Path, options: CertifyOptions) -> None:
    """Per-image JSON reports, then the requested run reports (defaults when none were asked)."""
    json_reporter = get_reporter("json")
    for image in run.images:
        single = RunReport(**{**run.__dict__, "images": [image]})
        json_reporter.write(single, Path(image.artifacts["run_dir"]) / "report.json")
    specs = options.reports or [ReportSpec(fmt) for fmt in DEFAULT_REPORTS]
    for spec in specs:
        get_reporter(spec.format).write(run, spec.resolve(run_dir))
    if options.console_summary and not any(s.format == "console" for s in specs):
        from harness.console import stderr, stdout
        from reports.console import print_summary

        # keep stdout clean when a machine-readable report goes there
        print_summary(run, stderr if any(spec.to_stdout for spec in specs) else stdout)
