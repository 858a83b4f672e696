"""Terminal output shared by all commands: rich on a terminal, plain timestamped lines otherwise."""

from __future__ import annotations

import os
import sys
import time

from rich.console import Console

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def interactive() -> bool:
    """True on a terminal outside CI: live progress displays are allowed."""
    return stderr.is_terminal and not os.environ.get("CI")


def notice(message: str) -> None:
    """One informational line on stderr (timestamped when not interactive)."""
    if interactive():
        stderr.print(f"[dim]vmcert:[/dim] {message}", markup=True)
    else:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} vmcert: {message}", file=sys.stderr, flush=True)
