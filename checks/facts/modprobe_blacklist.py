"""The ``modprobe_blacklist`` fact: modprobe.d lines that blacklist ``udf`` or ``vfat`` or
redirect their loading (``install``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class ModprobeLine:
    """One ``blacklist``/``install`` line of a modprobe.d file."""

    path: str
    text: str
    """The line without surrounding blanks, e.g. ``install vfat /bin/true``."""


@dataclass(frozen=True)
class ModprobeBlacklist:
    """Every such line, in the probe's order (none: both modules can load)."""

    lines: tuple[ModprobeLine, ...] = ()


def parse(text: str) -> ModprobeBlacklist:
    """``path:line`` lines (as ``grep -H`` prints them); other lines are ignored."""
    found: list[ModprobeLine] = []
    for line in text.splitlines():
        path, colon, rest = line.partition(":")
        if colon:
            found.append(ModprobeLine(path, rest.strip()))
    return ModprobeBlacklist(tuple(found))


def read_offline(image: OfflineImage) -> str:
    """``path:line`` of the modprobe.d lines that blacklist or redirect udf/vfat."""
    from checks.offline.image import SPACE, ltrim

    dirs = [
        "/etc/modprobe.d",
        "/run/modprobe.d",
        "/usr/local/lib/modprobe.d",
        "/usr/lib/modprobe.d",
    ]
    if image.real_dir("/lib/modprobe.d") != "/usr/lib/modprobe.d":
        dirs.append("/lib/modprobe.d")
    out = []
    seen: set[str] = set()  # one file per name: /etc's shadows /run's and the vendor ones
    for directory in dirs:
        if not image.is_dir(directory):
            continue
        for path in image.glob(f"{directory}/*.conf"):
            if not image.is_file(path) or path.rsplit("/", 1)[-1] in seen:
                continue
            seen.add(path.rsplit("/", 1)[-1])
            for line in image.lines(path):
                text = ltrim(line)
                for word in ("blacklist", "install"):
                    if text.startswith(word) and text[len(word) : len(word) + 1] in tuple(SPACE):
                        rest = ltrim(text[len(word) :])
                        module = rest[:3] if rest.startswith("udf") else rest[:4]
                        after = rest[len(module) : len(module) + 1]
                        if module in ("udf", "vfat") and (after == "" or after in SPACE):
                            out.append(f"{path}:{line}\n")
                        break
    return "".join(out)


FACT = fact(
    "modprobe_blacklist",
    parse,
    description="modprobe.d lines that blacklist or redirect udf/vfat",
    offline=read_offline,
)
