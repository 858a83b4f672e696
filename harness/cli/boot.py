"""``vmcert boot``: boot an image (or reach a host), run one command, print timings, tear down."""

from __future__ import annotations

import time
from pathlib import Path

import click

from harness.cli.platform_flags import PlatformFlags, platform_cli_options
from harness.config import Config
from harness.console import notice
from harness.errors import InputError


@click.command("boot")
@click.argument(
    "image", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--platform",
    "platform_name",
    default="qemu",
    show_default=True,
    help="qemu or ssh (or a plugin).",
)
@click.option("--keep", is_flag=True, help="Leave the machine running and print how to reach it.")
@click.option("--console", is_flag=True, help="Show the serial console live on stderr.")
@click.option("--command", "command", default="uname -a", show_default=True, help="Command to run.")
@click.option(
    "--run-dir", type=click.Path(file_okay=False, path_type=Path), help="Parent of the run dir."
)
@platform_cli_options()
def boot_command(
    image: Path | None,
    platform_name: str,
    keep: bool,
    console: bool,
    command: str,
    run_dir: Path | None,
    config: Config,
    platform_flags: PlatformFlags,
) -> int:
    """Boot IMAGE, run a command over SSH (default `uname -a`), print timings, tear down.

    With --platform ssh no image is needed: --host/--user/--key (or --password) name a
    running machine. Flags marked [qemu] or [ssh] belong to that platform; --config FILE (or
    $VMCERT_CONFIG) supplies their defaults from its [platform.NAME] table.
    """
    from harness.platforms import PLATFORMS, BootContext, DiskFile, platform_options

    platform = PLATFORMS.get(platform_name)()
    options = platform_options(platform_name, platform_flags, config)
    if platform_name == "qemu" and image is None:
        raise InputError("vmcert boot: IMAGE is required with --platform qemu")
    # only the disk's head is read: booting needs its driver and generation, not an inspection
    candidate = DiskFile.probe(image) if image is not None else None
    context = BootContext(run_dir=run_dir, console_echo=console, keep=keep, notify=notice)
    started = time.monotonic()
    with platform.booted(candidate, options, context) as machine:
        ready = time.monotonic() - started
        with machine.session() as session:
            notice(f"running: {command}")
            command_started = time.monotonic()
            result = session.run(command)
            command_s = time.monotonic() - command_started
        click.echo(result.stdout_text, nl=False)
        if result.stderr:
            click.echo(result.stderr_text, nl=False, err=True)
        facts = machine.facts
        boot_to_ssh = facts.get("qemu_start_to_ssh_s") or facts.get("connect_s", "?")
        click.echo(
            f"timings: start→SSH ready {ready:.2f} s (QEMU start→SSH {boot_to_ssh} s), "
            f"command {command_s:.2f} s; platform {facts.get('platform')}, "
            f"accel {facts.get('accel')}, gen {facts.get('generation')}, "
            f"host key {machine.host_key_note}",
            err=True,
        )
        if facts.get("provision") == "azure":  # the emulated Azure provisioning, as it went
            click.echo(f"Azure provisioning: {facts.get('azure_provisioning_detail')}", err=True)
            for line in facts.get("azure_timeline", "").splitlines():
                click.echo(f"  {line}", err=True)
        if result.timed_out:
            raise InputError(f"command {command!r} timed out")
    return 0 if result.exit_status == 0 else 1
