"""The run directory: one per ``vmcert certify`` run, one sub-directory per image.

Layout::

    runs/<UTC timestamp>-<id>/
        report.json  junit.xml  report.html   (run-wide reports, unless --report says otherwise)
        <n>-<image stem>/
            serial.log            serial console of the last boot attempt
            serial-attempt<k>.log serial console of an attempt that failed on infrastructure
            probes/<probe>.txt    raw probe outputs (sanitized)
            report.json           this image's JSON report
            run.json              timings per phase, attempts, verdict
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError


def new_run_id(now: float | None = None) -> str:
    """``<UTC timestamp>-<6 hex>``: sorts by time, unique across parallel runs."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunDir:
    """A created run directory."""

    path: Path
    run_id: str

    @classmethod
    def create(cls, parent_or_path: Path | None = None, *, exact: bool = False) -> RunDir:
        """Create ``<parent>/<run id>/`` (default parent ``./runs``), or ``parent_or_path`` itself
        when ``exact`` (``--run-dir DIR``: it may exist but must be empty)."""
        run_id = new_run_id()
        if exact and parent_or_path is not None:
            path = parent_or_path
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise InputError(f"--run-dir {path}: exists and is not an empty directory")
        else:
            path = (parent_or_path or Path("runs")) / run_id
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create run directory {path}: {exc.strerror}") from None
        return cls(path, run_id)

    def image_dir(self, index: int, image: Path) -> Path:
        """The sub-directory of the ``index``-th image (created)."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", image.name)[:60] or "image"
        path = self.path / f"{index + 1}-{stem}"
        (path / "probes").mkdir(parents=True, exist_ok=True)
        return path
