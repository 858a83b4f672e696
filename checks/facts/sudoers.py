"""The ``sudoers`` fact: uncommented ``Defaults`` lines of the sudoers files that mention
``targetpw``."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact


@dataclass(frozen=True)
class SudoersLine:
    """One matching line, as ``grep -Hn`` prints it: ``path:lineno:text``."""

    line: str
    """The whole printed line (evidence)."""
    text: str
    """The sudoers text of the line (the whole line when it has no ``path:lineno:`` prefix)."""


@dataclass(frozen=True)
class Sudoers:
    """The ``Defaults … targetpw`` lines found."""

    lines: tuple[SudoersLine, ...]


def parse(text: str) -> Sudoers:
    """One :class:`SudoersLine` per output line."""
    lines = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        lines.append(SudoersLine(line, parts[2] if len(parts) == 3 else line))
    return Sudoers(tuple(lines))


FACT = fact(
    "sudoers",
    parse,
    needs_root=True,
    description="uncommented Defaults lines that mention targetpw",
)
