"""``vmcert check`` (run the Linux checks against an existing host) and ``vmcert checks`` (list)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import click

from checks.model import JSON, Result
from checks.registry import select_checks
from harness.cli.options import split_list
from harness.cli.platform_flags import PlatformFlags, platform_cli_options
from harness.config import Config
from harness.errors import ExitCode, InfraError, InputError
from reports.model import ImageReport, result_to_dict

_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "warning": "yellow",
    "skipped": "dim",
    "error": "bold magenta",
}


def result_status_text(result: Result) -> str:
    """The status word shown for a result (``waived``/``expired waiver`` annotated)."""
    text = str(result.status.value)
    if result.waiver is not None:
        if result.waiver.expired:
            text += " (waiver expired)"
        elif result.waived:
            text = "waived"
    return text


def print_table(report: ImageReport, title: str) -> None:
    """Print one machine's results as a rich table plus how they were collected."""
    from rich.table import Table

    from harness.console import stdout

    table = Table(title=title, show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for col in ("actual", "required", "message"):
        table.add_column(col, overflow="fold")
    for r in report.results:
        status = result_status_text(r)
        style = "cyan" if status == "waived" else _STYLE.get(r.status.value, "")
        msg = r.message
        if r.waiver is not None:
            msg += f" [waiver: {r.waiver.justification}" + (
                f", expires {r.waiver.expires}]" if r.waiver.expires else "]"
            )
        table.add_row(r.check_id, f"[{style}]{status}[/]", r.actual[:120], r.required, msg)
    out = stdout
    out.print(table)
    counts: dict[str, int] = {}
    for r in report.results:
        key = result_status_text(r)
        counts[key] = counts.get(key, 0) + 1
    out.print(" · ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    run = report.check_run
    mode = f"{run.get('batch_mode')}" + (
        f" ({run['fallback_reason']})" if run.get("fallback_reason") else ""
    )
    timings = run.get("probe_timings")
    probes = len(timings) if isinstance(timings, Mapping) else 0
    out.print(
        f"probes: {probes} in {run.get('execs')} exec(s), mode {mode}, "
        f"{run.get('probe_wall_time')} s; policy {run.get('policy')}"
    )
    overrides = run.get("policy_overrides")
    for line in overrides if isinstance(overrides, list) else []:
        out.print(f"  override: {line}")
    if run.get("harness_footprint"):
        out.print(f"harness footprint: {json.dumps(run['harness_footprint'], default=str)}")


def report_to_json(report: ImageReport) -> dict[str, JSON]:
    """The ``--json`` document: results (the report's result shape), failed, how they ran."""
    return {
        "results": [result_to_dict(r, "online") for r in report.results],
        "failed": report.verdict == "failed",
        "run": dict(report.check_run),
    }


@click.command("check")
@click.option(
    "--platform",
    "platform",
    default="ssh",
    show_default=True,
    help="A platform for a machine that exists (ssh: a host you name).",
)
@platform_cli_options()
@click.option(
    "--policy", default=None, help="Profile (marketplace, selftest, lisa) or a TOML file."
)
@click.option(
    "--waivers", "waivers_file", type=click.Path(dir_okay=False), help="TOML/YAML waiver file."
)
@click.option(
    "--checks", "include", multiple=True, help="Check ids, areas or tags (comma-separated)."
)
@click.option("--skip", multiple=True, help="Check ids, areas or tags to leave out.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.option("--no-batch", is_flag=True, help="One exec per probe (slower; for diagnosis).")
def check_command(
    platform: str,
    config: Config,
    platform_flags: PlatformFlags,
    policy: str | None,
    waivers_file: str | None,
    include: tuple[str, ...],
    skip: tuple[str, ...],
    as_json: bool,
    no_batch: bool,
) -> int:
    """Run the Linux certification checks against an existing host over SSH.

    The same core as `vmcert certify --platform ssh`, without an image and without a run
    directory: the results are printed. Exit status: 0 nothing failed (warnings allowed), 1 a
    check failed, 2 bad usage or config, 3 could not connect.
    """
    from harness.platforms import PLATFORMS, platform_options
    from harness.platforms.ssh import SshOptions
    from harness.runner import CertifyOptions, Selection, certify

    if PLATFORMS.get(platform).needs_image:
        raise InputError(
            f"`vmcert check` runs against an existing host: use --platform ssh (got {platform!r}); "
            "to boot an image use `vmcert certify`"
        )
    options = platform_options(platform, platform_flags, config)
    if isinstance(options, SshOptions) and (options.key is None) == (options.password is None):
        raise InputError("give exactly one of --key FILE or --password")
    # configuration errors first: they must not wait behind a password prompt
    selection = Selection(
        offline=[], online=select_checks(split_list(include), split_list(skip), tag="online")
    )
    certify_options = CertifyOptions(
        platform=platform,
        platform_options=options,
        policy=policy,
        waivers_file=Path(waivers_file) if waivers_file else None,
        retries=0,
        batch=not no_batch,
        write_files=False,
    )
    run, _ = certify([None], certify_options, checks=selection)
    report = run.images[0]
    if report.infra_error is not None:
        failure = report.infra_attempts[-1].error if report.infra_attempts else report.infra_error
        raise InfraError(failure)
    if as_json:
        click.echo(json.dumps(report_to_json(report), indent=2, default=str))
    else:
        print_table(report, f"vmcert check {report.path}")
    return int(ExitCode.FAILED if report.verdict == "failed" else ExitCode.OK)


@click.command("checks")
@click.option("--tag", default=None, help="Only checks with this tag (online, offline).")
@click.option("--json", "as_json", is_flag=True)
def list_checks_command(tag: str | None, as_json: bool) -> int:
    """List every check: id, area, severity, Microsoft test name and self-test TestID."""
    from rich.table import Table

    from harness.console import stdout

    checks = select_checks(tag=tag)
    if as_json:
        rows = [
            {
                "id": c.id,
                "area": c.area,
                "severity": c.severity.value,
                "ms_test_name": c.ms_test_name,
                "selftest_id": c.selftest_id,
                "tags": sorted(c.tags),
                "required": c.required,
                "params": dict(c.params),
            }
            for c in checks
        ]
        click.echo(json.dumps(rows, indent=2))
        return int(ExitCode.OK)
    table = Table(title=f"{len(checks)} checks")
    table.add_column("id", no_wrap=True)
    for col in ("area", "severity", "MS test name", "TestID", "tags"):
        table.add_column(col)
    for c in checks:
        table.add_row(
            c.id,
            c.area,
            c.severity.value,
            c.ms_test_name or "",
            str(c.selftest_id or ""),
            ",".join(sorted(c.tags)),
        )
    stdout.print(table)
    return int(ExitCode.OK)
