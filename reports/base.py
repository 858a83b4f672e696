"""The reporter interface, its registry, ``--report FORMAT[:PATH]`` parsing and atomic writes."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.errors import InputError
from harness.registry import Registry
from reports.model import RunReport

BUILTIN_REPORTERS: tuple[str, ...] = (
    "reports.console",
    "reports.json_report",
    "reports.junit",
    "reports.selftest",
    "reports.html",
)
"""Modules holding the built-in reporters; each registers itself on import."""


class Reporter(ABC):
    """Turns a :class:`~reports.model.RunReport` into one output document."""

    name: ClassVar[str]
    default_filename: ClassVar[str]
    """File name used in the run directory when no path was given."""

    @abstractmethod
    def render(self, run: RunReport) -> str:
        """The whole document as text."""

    def write(self, run: RunReport, destination: str | Path) -> None:
        """Render and write to ``destination`` (``-`` = stdout), atomically for files."""
        write_text(destination, self.render(run))


REPORTERS: Registry[type[Reporter]] = Registry("reporter", "vmcert.reporters")


def load_builtin_reporters() -> None:
    """Import every built-in reporter module so that it registers."""
    for module in BUILTIN_REPORTERS:
        importlib.import_module(module)


def get_reporter(name: str) -> Reporter:
    """An instance of the reporter registered as ``name`` (one-line error listing the known)."""
    load_builtin_reporters()
    return REPORTERS.get(name)()


@dataclass(frozen=True)
class ReportSpec:
    """One ``--report`` option: a format and where to write it (``None`` = the run directory)."""

    format: str
    path: str | None = None

    @property
    def to_stdout(self) -> bool:
        """Whether the report goes to standard output."""
        return self.path == "-"

    def resolve(self, run_dir: Path) -> str:
        """The destination: the given path, ``-``, or the reporter's default name in ``run_dir``."""
        if self.path is not None:
            return self.path
        return str(run_dir / get_reporter(self.format).default_filename)


def parse_report_spec(text: str) -> ReportSpec:
    """Parse ``FORMAT``, ``FORMAT:PATH`` or ``FORMAT:-``; an unknown format is an input error."""
    fmt, sep, path = text.partition(":")
    fmt = fmt.strip().lower()
    load_builtin_reporters()
    if fmt not in REPORTERS:
        known = ", ".join(REPORTERS.names())
        raise InputError(f"--report {text!r}: unknown format {fmt!r} (known: {known})")
    if sep and not path:
        raise InputError(f"--report {text!r}: empty path after ':' (use FORMAT:PATH or FORMAT:-)")
    return ReportSpec(fmt, path if sep else None)


def write_text(destination: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``destination``; ``-`` writes to stdout.

    A file is written to a temporary file beside it and renamed into place, so a reader (CI, the
    replication step) never sees half a report.
    """
    if str(destination) == "-":
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
        return
    target = Path(destination)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write report {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
