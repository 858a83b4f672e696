"""``vmcert certify IMAGE…``: the end-to-end certification run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.options import split_list
from harness.cli.platform_flags import PlatformFlags, platform_cli_options
from harness.config import Config
from harness.errors import ExitCode

if TYPE_CHECKING:
    from reports.base import ReportSpec
    from reports.model import RunReport


def _report_spec(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[ReportSpec]:
    from reports.base import parse_report_spec

    return [parse_report_spec(value) for value in values]


@click.command("certify")
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--platform", default="qemu", show_default=True, help="Where to boot the image (qemu, ssh)."
)
@platform_cli_options()
@click.option("--policy", default=None, help="Policy name or file (default: the built-in one).")
@click.option(
    "--waivers",
    "waivers_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Waiver file: failures it lists (with a justification) do not fail the run.",
)
@click.option(
    "--report",
    "reports",
    multiple=True,
    callback=_report_spec,
    metavar="FORMAT[:PATH]",
    help="junit, json, selftest, html or console; PATH '-' is stdout, no PATH = the run "
    "directory. Repeatable. Default: report.json, junit.xml and report.html in the run "
    "directory plus the console summary.",
)
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Images certified at once (capped by cores and available memory).",
)
@click.option(
    "--retries",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Re-boots after an infrastructure failure (boot, SSH drop, QEMU crash).",
)
@click.option(
    "--keep",
    type=click.Choice(["on-failure", "always", "never"]),
    default="never",
    show_default=True,
    help="Leave the VM running after its checks (prints how to reach and stop it).",
)
@click.option(
    "--fail-fast",
    is_flag=True,
    help="Do not boot an image whose offline checks fail; after a failed Azure provisioning "
    "(--provision azure) do not re-boot it with NoCloud for the other checks.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Boot nothing: judge every check from the image's files (CI pre-flight); checks that "
    "need a running system are reported as not judged, the verdict is passed_offline or failed.",
)
@click.option(
    "--checks",
    "include",
    multiple=True,
    help="Only these check ids, areas or tags (comma-separated or repeated).",
)
@click.option(
    "--skip",
    multiple=True,
    help="Skip these check ids, areas or tags (comma-separated or repeated).",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory (default: ./runs/<timestamp>-<id>/).",
)
@click.option(
    "--replicate",
    "replicate_to",
    multiple=True,
    metavar="REGION[,REGION…]",
    help="After the reports, replicate each certified image to these regions (repeatable).",
)
@click.option(
    "--storage-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Storage TOML for --replicate (default: $VMCERT_STORAGE_CONFIG, else embedded Azurite).",
)
@click.option(
    "--replicate-strategy",
    type=click.Choice(["auto", "server", "pages-from-url", "stream"]),
    default="auto",
    show_default=True,
    help="How the data reaches each region.",
)
def certify_command(
    images: tuple[Path, ...],
    platform: str,
    config: Config,
    platform_flags: PlatformFlags,
    policy: str | None,
    waivers_file: Path | None,
    reports: list[ReportSpec],
    jobs: int,
    retries: int,
    keep: str,
    fail_fast: bool,
    offline: bool,
    include: tuple[str, ...],
    skip: tuple[str, ...],
    run_dir: Path | None,
    replicate_to: tuple[str, ...],
    storage_config: Path | None,
    replicate_strategy: str,
) -> int:
    """Certify IMAGE(s): offline inspection, boot, checks, reports, teardown.

    Exit status: 0 certified (warnings allowed; with --offline: nothing failed), 1 certification
    failed, 2 bad usage or unusable input, 3 infrastructure error after retries (or, with
    --replicate, a certified image that did not reach every region verified).
    """
    from harness.cli.progress import CertifyProgress
    from harness.console import notice, stderr, stdout
    from harness.platforms import platform_options
    from harness.runner import CertifyOptions, certify, exit_code, report_specs
    from reports.console import print_summary

    regions = split_list(replicate_to)
    if offline and regions:
        raise click.UsageError(
            "--replicate needs a certified image: drop --offline (an offline verdict does not "
            "certify) or replicate later with `vmcert replicate`"
        )
    options = CertifyOptions(
        platform=platform,
        platform_options=platform_options(platform, platform_flags, config),
        policy=policy,
        waivers_file=waivers_file,
        reports=list(reports),
        jobs=jobs,
        retries=retries,
        keep=keep,
        fail_fast=fail_fast,
        offline=offline,
        include=tuple(split_list(include)),
        skip=tuple(split_list(skip)),
        run_dir=run_dir,
    )
    replication = None
    if regions:
        from harness.cli.certify_replication import ReplicationStep

        replication = ReplicationStep(regions, storage_config, replicate_strategy)
        options.after_reports.append(replication)
    progress = CertifyProgress(list(images))
    specs = report_specs(options)
    if not any(spec.format == "console" for spec in specs):
        # keep stdout clean when a machine-readable report goes there
        console = stderr if any(spec.to_stdout for spec in specs) else stdout

        def summary(run: RunReport) -> None:
            progress.close()
            print_summary(run, console)

        options.on_reports = summary
    with progress:
        run, directory = certify(list(images), options, events=progress)
    code: ExitCode = exit_code(run)
    if code is ExitCode.OK and replication is not None and not replication.ok:
        code = ExitCode.INFRA
    notice(f"run directory: {directory} — verdict {run.verdict} (exit {int(code)})")
    return int(code)
