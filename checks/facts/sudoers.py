"""The ``sudoers`` fact: the ``Defaults`` lines that mention ``targetpw`` and the include lines of
the sudoers files sudo reads, in the order it reads them."""

from __future__ import annotations

import re
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


def _read(image: OfflineImage, path: str, depth: int, out: list[str]) -> None:
    from checks.offline.image import ltrim

    if depth > 8 or not image.is_file(path):
        return
    for number, line in enumerate(image.lines(path), 1):
        text = ltrim(line)
        if text.startswith("Defaults") and "targetpw" in text[len("Defaults") :]:
            out.append(f"{path}:{number}:{line}\n")
            continue
        m = re.match(r"[@#](include|includedir)[ \t\n\r\v\f]", text)
        if m is None:
            continue
        out.append(f"{path}:{number}:{line}\n")
        words = text.split(None, 1)
        target = words[1].split()[0] if len(words) > 1 and words[1].split() else ""
        if not target.startswith("/"):
            target = f"{path.rsplit('/', 1)[0]}/{target}"
        if m.group(1) == "includedir":
            for name in image.glob(f"{target}/*"):
                base = name.rsplit("/", 1)[-1]
                if "." not in base and not base.endswith("~") and image.is_file(name):
                    _read(image, name, depth + 1, out)
        else:
            _read(image, target, depth + 1, out)


def read_offline(image: OfflineImage) -> str:
    """What ``sudoers.sh`` prints: the targetpw Defaults lines and include lines of
    /etc/sudoers and the files it includes, in sudo's order."""
    out: list[str] = []
    _read(image, "/etc/sudoers", 0, out)
    return "".join(out)


FACT = fact(
    "sudoers",
    parse,
    needs_root=True,
    description="Defaults lines mentioning targetpw and include lines, in the order sudo reads",
    offline=read_offline,
)
