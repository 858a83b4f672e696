"""The ``dmesg`` fact: serial-console lines and fail/error/warning lines of the kernel log."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import sections


@dataclass(frozen=True)
class Dmesg:
    """What the kernel log says about the console and about problems."""

    console: tuple[str, ...]
    """Up to 5 ``console [ttyS0] enabled`` lines (ttyS*/ttyAMA*)."""
    problems: tuple[str, ...]
    """Up to 400 lines that mention fail, error, warn, call trace, BUG: or panic."""


def parse(text: str) -> Dmesg:
    """Parse the ``### console`` and ``### problems`` sections."""
    secs = sections(text)
    return Dmesg(
        console=tuple((secs.get("console") or "").strip().splitlines()),
        problems=tuple((secs.get("problems") or "").splitlines()),
    )


FACT = fact(
    "dmesg",
    parse,
    needs_root=True,
    max_output=128 * 1024,
    description="serial-console lines and fail/error/warning lines of the kernel log",
    offline_note="the kernel log exists only while a kernel runs",
)
