"""``vmcert check`` (run the Linux checks against an existing host) and ``vmcert checks`` (list)."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from harness.cli.options import split_list
from harness.errors import ExitCode, InputError

_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "warning": "yellow",
    "skipped": "dim",
    "error": "bold magenta",
}


def result_status_text(result: Any) -> str:
    """The status word shown for a result (``waived``/``expired waiver`` annotated)."""
    text = str(result.status.value)
    if result.waiver is not None:
        if result.waiver.expired:
            text += " (waiver expired)"
        elif result.waived:
            text = "waived"
    return text


def print_table(run: Any, title: str) -> None:
    """Print a CheckRun's results as a rich table plus its run facts."""
    from rich.table import Table

    from harness.console import stdout

    table = Table(title=title, show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for col in ("actual", "required", "message"):
        table.add_column(col, overflow="fold")
    for r in run.results:
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
    for r in run.results:
        key = result_status_text(r)
        counts[key] = counts.get(key, 0) + 1
    out.print(" · ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    mode = run.batch_mode + (f" ({run.fallback_reason})" if run.fallback_reason else "")
    out.print(
        f"probes: {len(run.probe_timings)} in {run.execs} exec(s), mode {mode}, "
        f"{run.probe_wall_time:.2f} s; policy {run.policy_name}"
    )
    for line in run.policy_overrides:
        out.print(f"  override: {line}")
    if run.footprint:
        out.print(f"harness footprint: {json.dumps(run.footprint, default=str)}")


def run_to_json(run: Any) -> dict[str, Any]:
    """A JSON-ready dict of a CheckRun (results plus run facts)."""
    results = []
    for r in run.results:
        results.append(
            {
                "id": r.check_id,
                "title": r.title,
                "area": r.area,
                "status": r.status.value,
                "waived": r.waived,
                "severity": r.severity.value,
                "actual": r.actual,
                "required": r.required,
                "message": r.message,
                "evidence": r.evidence,
                "ms_test_name": r.ms_test_name,
                "selftest_id": r.selftest_id,
                "waiver": None
                if r.waiver is None
                else {
                    "justification": r.waiver.justification,
                    "expires": r.waiver.expires,
                    "expired": r.waiver.expired,
                },
            }
        )
    return {"results": results, "failed": run.failed, "run": run.run_facts()}


@click.command("check")
@click.option(
    "--platform", "platform", default="ssh", show_default=True, help="Only `ssh`: an existing host."
)
@click.option("--host", required=True, help="Host name or address of the running VM.")
@click.option("--port", default=22, show_default=True, type=int)
@click.option("--user", required=True, help="Login user (needs passwordless sudo).")
@click.option(
    "--key", "key", type=click.Path(exists=True, dir_okay=False), help="Private key file."
)
@click.option(
    "--password",
    "use_password",
    is_flag=True,
    help="Authenticate with a password (from $VMCERT_SSH_PASSWORD or a prompt).",
)
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
    host: str,
    port: int,
    user: str,
    key: str | None,
    use_password: bool,
    policy: str | None,
    waivers_file: str | None,
    include: tuple[str, ...],
    skip: tuple[str, ...],
    as_json: bool,
    no_batch: bool,
) -> int:
    """Run the Linux certification checks against an existing host over SSH.

    Exit status: 0 nothing failed (warnings allowed), 1 a check failed, 2 bad usage or config,
    3 could not connect.
    """
    from checks.registry import CHECKS, select_checks
    from harness.policy import load_policy
    from harness.probe_runner import run_checks
    from harness.ssh import SshSession
    from harness.waivers import load_waivers

    if platform != "ssh":
        raise InputError(
            f"`vmcert check` runs against an existing host: use --platform ssh (got {platform!r}); "
            "to boot an image use `vmcert certify`"
        )
    if bool(key) == use_password:
        raise InputError("give exactly one of --key FILE or --password")
    # configuration errors first: they must not wait behind a password prompt
    checks = select_checks(split_list(include), split_list(skip), tag="online")
    the_policy = load_policy(policy, list(CHECKS))
    waivers = load_waivers(waivers_file, CHECKS.names()) if waivers_file else []
    password = None
    if use_password:
        password = os.environ.get("VMCERT_SSH_PASSWORD") or click.prompt(
            f"password for {user}@{host}", hide_input=True, err=True
        )
    with SshSession.connect(host, port, user, key_path=key, password=password) as session:
        run = run_checks(session, checks, policy=the_policy, waivers=waivers, batch=not no_batch)
    if as_json:
        click.echo(json.dumps(run_to_json(run), indent=2, default=str))
    else:
        print_table(run, f"vmcert check {user}@{host}:{port}")
    return int(ExitCode.FAILED if run.failed else ExitCode.OK)


@click.command("checks")
@click.option("--tag", default=None, help="Only checks with this tag (online, offline).")
@click.option("--json", "as_json", is_flag=True)
def list_checks_command(tag: str | None, as_json: bool) -> int:
    """List every check: id, area, severity, Microsoft test name and self-test TestID."""
    from rich.table import Table

    from checks.registry import select_checks
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
