"""The reporter interface, its registry, ``--report FORMAT[:PATH]`` parsing and atomic writes."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from images.registry import Registry
from reports.errors import ReportError
from reports.model import RunReport

_SUPPORT_MODULES = frozenset({"base", "errors", "model", "sanitize"})
"""Modules of this package that hold no reporter (everything else is imported to register)."""


class Reporter(ABC):
    """Turns a :class:`~reports.model.RunReport` into one output document.

    A concrete subclass registers itself under its ``name`` when its module is imported (the name is
    written once); a built-in reporter is one module in this package, found by
    :func:`load_builtin_reporters`, and a third-party one arrives through the ``vmcert.reporters``
    entry-point group.
    """

    name: ClassVar[str]
    default_filename: ClassVar[str]
    """File name used in the run directory when no path was given."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # abstract intermediates without a name do not register
            REPORTERS.add(cls.name, cls)

    @abstractmethod
    def render(self, run: RunReport) -> str:
        """The whole document as text."""

    def write(self, run: RunReport, destination: str | Path) -> None:
        """Render and write to ``destination`` (``-`` = stdout), atomically for files."""
        write_text(destination, self.render(run))


REPORTERS: Registry[type[Reporter]] = Registry(
    "reporter", "vmcert.reporters", builtins=lambda: load_builtin_reporters()
)


def load_builtin_reporters() -> None:
    """Import every built-in reporter module of this package so that its reporter registers."""
    package = importlib.import_module("reports")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _SUPPORT_MODULES and not module.name.startswith("_"):
            importlib.import_module(f"reports.{module.name}")


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
        raise ReportError(f"--report {text!r}: unknown format {fmt!r} (known: {known})")
    if sep and not path:
        raise ReportError(f"--report {text!r}: empty path after ':' (use FORMAT:PATH or FORMAT:-)")
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
        raise ReportError(f"cannot write report {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
