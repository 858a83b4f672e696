"""The ``bash_history`` fact: size, owner and path of every ``.bash_history`` of root and the
/home users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class HistoryFile:
    """One history file (``stat -c '%s %U %n'``)."""

    size: int
    owner: str
    path: str


@dataclass(frozen=True)
class BashHistory:
    """Every bash history file found."""

    files: tuple[HistoryFile, ...]


def parse(text: str) -> BashHistory:
    """One ``SIZE OWNER PATH`` line per file; other lines are ignored."""
    files = []
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit():
            files.append(HistoryFile(int(parts[0]), parts[1], parts[2]))
    return BashHistory(tuple(files))


def read_offline(image: OfflineImage) -> str:
    """``stat -c '%s %U %n'`` of every existing .bash_history of root and /home users."""
    out = []
    for pattern in ("/root/.bash_history", "/home/*/.bash_history"):
        for path in image.glob(pattern):
            if not image.exists(path):
                continue
            found = image.stat(path, follow=False)
            if found is not None:
                out.append(f"{found.size} {image.owner(found)} {path}\n")
    return "".join(out)


FACT = fact(
    "bash_history",
    parse,
    needs_root=True,
    description="size, owner and path of every .bash_history",
    offline=read_offline,
    shipped=True,
)
