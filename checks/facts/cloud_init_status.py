"""The ``cloud_init_status`` fact: cloud-init's status for this boot and its log's problems."""

from __future__ import annotations

import json
from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import key_values, sections


@dataclass(frozen=True)
class CloudInitStatus:
    """``cloud-init status --long`` and the ``[ERROR]``/``[WARNING]`` lines of cloud-init.log."""

    present: bool
    status_rc: int | None = None
    """Exit code of ``cloud-init status`` (0 done, 1 error, 2 recoverable error/degraded)."""
    status: str = ""
    log_problems: tuple[str, ...] = ()


DISABLED = "disabled"


def status_from_files(status_json: str, boot: str) -> tuple[int, str]:
    """``cloud-init status``'s exit code and ``status:`` word from ``/run/cloud-init/status.json``
    (empty: none) once cloud-init is done, as its ``cmd/status.py`` derives them (read at
    canonical/cloud-init 04eacd0; the same rule since 23.4, and older releases had no
    ``recoverable_errors``): any stage's ``errors`` → 1 ``error``; else any
    ``recoverable_errors`` → 2; the word is ``disabled`` by its boot code, else ``done`` when a
    stage started or finished, else ``not started``. ``boot`` holds the probe's ``### boot``
    lines (marker file, generator files, ``cmdline=``). A status.json that is not JSON makes
    ``cloud-init status`` end with a traceback, exit 1."""
    v1: dict[str, object] = {}
    if status_json.strip():
        try:
            doc = json.loads(status_json)
        except ValueError:
            return 1, "error (status.json is not JSON)"
        found = doc.get("v1") if isinstance(doc, dict) else None
        v1 = found if isinstance(found, dict) else {}
    errors = recoverable = False
    latest = 0.0
    for _, stage in sorted(v1.items()):
        if isinstance(stage, dict):
            errors = errors or bool(stage.get("errors"))
            recoverable = recoverable or bool(stage.get("recoverable_errors"))
            for key in ("start", "finished"):
                when = stage.get(key)
                if isinstance(when, int | float):
                    latest = max(latest, float(when))
    if errors:
        return 1, "error"
    word = DISABLED if _disabled(boot) else "done" if latest > 0 else "not started"
    return (2 if recoverable else 0), word


def _disabled(boot: str) -> bool:
    """cloud-init's ``get_bootstatus`` order: ``cloud-init=enabled`` on the command line, the
    marker file, ``cloud-init=disabled`` on the command line, then the generator's files."""
    lines = boot.splitlines()
    words = key_values(boot).get("cmdline", "").split()
    if "cloud-init=enabled" in words:
        return False
    if "marker_file" in lines or "cloud-init=disabled" in words:
        return True
    return "generator_disabled" in lines


def parse(text: str) -> CloudInitStatus:
    """``status_rc=``/``status:`` lines (``cloud-init status`` ran), or ``### boot`` and
    ``### status.json`` (the files it reads), or ``absent``; then ``### log``."""
    parts = sections(text)
    log = tuple(ln for ln in (parts.get("log") or "").splitlines() if ln.strip())
    if "status.json" in parts or "boot" in parts:
        rc, word = status_from_files(parts.get("status.json", ""), parts.get("boot", ""))
        return CloudInitStatus(True, rc, word, log)
    head = text.split("### log", 1)[0]
    if head.strip() == "absent":
        return CloudInitStatus(present=False)
    kv = key_values(head)
    status = ""
    for line in head.splitlines():
        if line.startswith("status:"):
            status = line.partition(":")[2].strip()
    code = kv.get("status_rc", "")
    return CloudInitStatus(True, int(code) if code.isdigit() else None, status, log)


FACT = fact(
    "cloud_init_status",
    parse,
    needs_root=True,
    timeout=15,
    description="cloud-init's status (from /run/cloud-init) and the [ERROR]/[WARNING] lines of "
    "cloud-init.log",
    offline_note="the status of a boot: the image has none of its own",
)
