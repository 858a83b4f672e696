"""The ``python`` fact: the version of the first Python interpreter on ``PATH`` (python3,
python, python2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.fact import fact


@dataclass(frozen=True)
class Python:
    """The interpreter's version."""

    version: str | None
    """``3.11.2`` from ``Python 3.11.2``; None when no interpreter was found."""


def parse(text: str) -> Python:
    """The first ``Python X.Y[.Z]`` in the output (``absent`` has none)."""
    m = re.search(r"Python (\d+(?:\.\d+)+)", text.strip())
    return Python(m.group(1) if m else None)


FACT = fact("python", parse, description="the first Python interpreter's version")
