"""The ``sudoers`` fact: uncommented ``Defaults`` lines of the sudoers files that mention
``targetpw``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


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


def read_offline(image: OfflineImage) -> str:
    """``path:lineno:line`` of the sudoers lines that start with ``Defaults`` and mention
    ``targetpw``, as ``sudoers.sh`` prints them."""
    from checks.offline.image import ltrim

    out = []
    for path in ["/etc/sudoers", *image.glob("/etc/sudoers.d/*")]:
        if not image.is_file(path):
            continue
        for number, line in enumerate(image.lines(path), 1):
            text = ltrim(line)
            if text.startswith("Defaults") and "targetpw" in text[len("Defaults") :]:
                out.append(f"{path}:{number}:{line}\n")
    return "".join(out)


FACT = fact(
    "sudoers",
    parse,
    needs_root=True,
    description="uncommented Defaults lines that mention targetpw",
    offline=read_offline,
)
