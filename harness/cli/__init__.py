"""The ``vmcert`` command line.

Commands live one per module in this package and are imported lazily, so ``vmcert inspect`` does
not pay for paramiko or the Azure SDK. Every :class:`~harness.errors.VmcertError` becomes one line
on stderr and its exit code; SIGTERM is turned into an exception so teardown code runs.
"""

from __future__ import annotations

import importlib
import signal
import sys
from types import FrameType

import click

from harness import __version__
from harness.errors import USER_ERRORS, ExitCode, Interrupted, exit_code_for

# name -> "module:attribute", imported on first use of the command.
COMMANDS: dict[str, str] = {
    "inspect": "harness.cli.inspect:inspect_command",
    "images": "harness.cli.images:images_group",
    "boot": "harness.cli.boot:boot_command",
    "check": "harness.cli.check:check_command",
    "checks": "harness.cli.check:list_checks_command",
    "certify": "harness.cli.certify:certify_command",
    "replicate": "harness.cli.replicate:replicate_command",
    "storage": "harness.cli.storage:storage_group",
    # the publishing pipeline (harness.publish)
    "offer": "harness.publish.cli:offer_group",
    "publish": "harness.publish.cli:publish_command",
    "status": "harness.publish.cli:status_command",
    "offers": "harness.publish.cli:offers_command",
    "history": "harness.publish.cli:history_command",
    "go-live": "harness.publish.cli:go_live_command",
    "cancel": "harness.publish.cli:cancel_command",
    "catalog": "harness.publish.cli:catalog_command",
    "outbox": "harness.publish.cli:outbox_command",
    "support": "harness.publish.cli:support_command",
    "publish-worker": "harness.publish.cli:worker_command",
    "serve": "harness.web.cli:serve_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vmcert")
def cli() -> None:
    """vmcert: certify virtual-machine images against Azure Marketplace criteria."""


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}; everything was torn down")


def error_line(message: str) -> None:
    """Print one error line on stderr the way every command does."""
    click.echo(f"vmcert: error: {message}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vmcert`` console script; returns (and exits with) the exit code."""
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        result = cli.main(args=argv, prog_name="vmcert", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        code = int(ExitCode.USAGE)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # click turns SIGINT inside a command into Abort; teardown already ran in ``finally``.
        error_line("interrupted by SIGINT; everything was torn down")
        code = int(ExitCode.INTERRUPTED)
    except USER_ERRORS as exc:
        error_line(str(exc))
        code = int(exit_code_for(exc) or ExitCode.USAGE)
    else:
        code = int(result) if isinstance(result, int) else 0
    sys.exit(code)
