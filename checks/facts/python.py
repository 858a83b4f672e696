"""The ``python`` fact: the version of the first Python interpreter on ``PATH`` (python3,
python, python2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class Python:
    """The interpreter's version."""

    version: str | None
    """``3.11.2`` from ``Python 3.11.2``; None when no interpreter was found."""


def parse(text: str) -> Python:
    """The first ``Python X.Y[.Z]`` in the output (``absent`` has none)."""
    m = re.search(r"Python (\d+(?:\.\d+)+)", text.strip())
    return Python(m.group(1) if m else None)


def _python_version(image: OfflineImage, path: str) -> str | None:
    """X.Y.Z of the interpreter at ``path``: its package's version, else its own bytes."""
    real = image.files.resolve(path)
    m = re.search(r"python(\d+\.\d+)$", real)
    major_minor = m.group(1) if m else None
    db = image.packages
    names = ["python3", "python"]
    if major_minor:
        short = major_minor.replace(".", "")
        names = [f"python{major_minor}-minimal", f"python{major_minor}", f"python{short}", *names]
    for name in names:
        for package in db.get(name):
            upstream = re.sub(r"^\d+:", "", package.version).split("-", 1)[0].split("+", 1)[0]
            if re.fullmatch(r"\d+\.\d+\.\d+", upstream) and (
                major_minor is None or upstream.startswith(major_minor + ".")
            ):
                return upstream
    data = image.read_bytes(path, 64 * 1024 * 1024)
    prefix = re.escape(major_minor.encode()) if major_minor else rb"[23]\.\d+"
    found = re.search(rb"\x00(" + prefix + rb"\.\d+)(?:[abc]\d+|rc\d+)?\+?\x00", data)
    if found:
        return found.group(1).decode()
    return major_minor


def read_offline(image: OfflineImage) -> str:
    """``python3 -V`` (else python, python2) for the first interpreter on the probe's PATH."""
    from checks.offline.image import OfflineError

    for name in ("python3", "python", "python2"):
        path = image.command(name)
        if path is not None:
            version = _python_version(image, path)
            if version is None:
                raise OfflineError(f"{path}: cannot tell the Python version offline")
            return f"Python {version}\n"
    return "absent\n"


FACT = fact(
    "python",
    parse,
    description="the first Python interpreter's version",
    offline=read_offline,
)
