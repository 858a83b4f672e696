"""``vmcert storage up|down|status``: keep one embedded Azurite alive across runs."""

from __future__ import annotations

import click

from harness.cli.options import split_list
from harness.console import stdout
from harness.replication import azurite


@click.group("storage")
def storage_group() -> None:
    """Manage the embedded Azurite (the storage default when no --config is given)."""


@storage_group.command("up")
@click.option(
    "--regions",
    default=",".join(azurite.DEFAULT_REGIONS),
    show_default=True,
    help="Comma-separated regions; one Azurite account each.",
)
@click.option(
    "--show-connection-strings",
    is_flag=True,
    help="Print each region's connection string (contains the account key).",
)
def up_command(regions: str, show_connection_strings: bool) -> None:
    """Start Azurite (or add accounts to the running one) and keep it running."""
    names = split_list([regions])
    instance = azurite.up(names)
    stdout.print(
        f"azurite {azurite.AZURITE_VERSION} pid {instance.pid} at {instance.endpoint}", markup=False
    )
    stdout.print(f"data: {instance.location}  state: {azurite.state_file()}", markup=False)
    for region in instance.regions:
        line = f"  {region}: account {azurite.account_for(region)}"
        if show_connection_strings:
            line += f"  {instance.connection_string(region)}"
        stdout.print(line, markup=False)


@storage_group.command("down")
def down_command() -> None:
    """Stop the kept Azurite with SIGTERM and delete its data."""
    stopped = azurite.down()
    stdout.print("azurite stopped" if stopped else "azurite was not running", markup=False)


@storage_group.command("status")
def status_command() -> int:
    """Show whether the kept Azurite runs (exit 0) or not (exit 1)."""
    instance = azurite.running()
    if instance is None:
        stdout.print("azurite: not running (vmcert storage up starts it)", markup=False)
        return 1
    stdout.print(f"azurite: running, pid {instance.pid} at {instance.endpoint}", markup=False)
    stdout.print(f"data: {instance.location}", markup=False)
    for region in instance.regions:
        stdout.print(f"  {region}: account {azurite.account_for(region)}", markup=False)
    return 0
