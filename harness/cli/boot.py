"""``vmcert boot``: boot an image (or reach a host), run one command, print timings, tear down."""

from __future__ import annotations

import time
from pathlib import Path

import click

from harness.accel import CHOICES
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
@click.option(
    "--accel",
    type=click.Choice(CHOICES),
    default="auto",
    show_default=True,
    help="auto uses KVM only when a probe boot works, else TCG.",
)
@click.option("--gen", "generation", type=click.IntRange(1, 2), help="1 = BIOS, 2 = UEFI.")
@click.option("--keep", is_flag=True, help="Leave the VM running and print how to reach it.")
@click.option("--console", is_flag=True, help="Show the serial console live on stderr.")
@click.option("--command", "command", default="uname -a", show_default=True, help="Command to run.")
@click.option("--memory", "memory_mib", default=1024, show_default=True, help="MiB of guest RAM.")
@click.option("--cpus", default=2, show_default=True, help="Guest vCPUs.")
@click.option("--timeout", "boot_timeout", type=float, help="Seconds to wait for SSH.")
@click.option(
    "--run-dir", type=click.Path(file_okay=False, path_type=Path), help="Parent of the run dir."
)
@click.option("--host", help="ssh platform: host name or address.")
@click.option("--port", default=22, show_default=True, help="ssh platform: port.")
@click.option("--user", help="ssh platform: user (default root).")
@click.option(
    "--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), help="Private key."
)
@click.option("--password", help="ssh platform: password (prefer --key).")
def boot_command(
    image: Path | None,
    platform_name: str,
    accel: str,
    generation: int | None,
    keep: bool,
    console: bool,
    command: str,
    memory_mib: int,
    cpus: int,
    boot_timeout: float | None,
    run_dir: Path | None,
    host: str | None,
    port: int,
    user: str | None,
    key_path: Path | None,
    password: str | None,
) -> int:
    """Boot IMAGE, run a command over SSH (default `uname -a`), print timings, tear down.

    With --platform ssh no image is needed: --host/--user/--key (or --password) name a
    running machine.
    """
    from harness.platforms import PLATFORMS, BootOptions

    platform = PLATFORMS.get(platform_name)()
    if platform_name == "qemu" and image is None:
        raise InputError("vmcert boot: IMAGE is required with --platform qemu")
    options = BootOptions(
        accel=accel,
        generation=generation,
        console=console,
        keep=keep,
        run_dir=run_dir,
        memory_mib=memory_mib,
        cpus=cpus,
        boot_timeout=boot_timeout,
        host=host,
        port=port,
        user=user,
        key_path=key_path,
        password=password,
    )
    started = time.monotonic()
    with platform.booted(image, options) as machine:
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
        if result.timed_out:
            raise InputError(f"command {command!r} timed out")
    return 0 if result.exit_status == 0 else 1
