"""The ``cloud_init_status`` fact: cloud-init's status for this boot and its log's problems."""

from __future__ import annotations

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


def parse(text: str) -> CloudInitStatus:
    """``status_rc=``/``status:`` lines (or ``absent``), then ``### log``."""
    head = text.split("### log", 1)[0]
    if head.strip() == "absent":
        return CloudInitStatus(present=False)
    kv = key_values(head)
    status = ""
    for line in head.splitlines():
        if line.startswith("status:"):
            status = line.partition(":")[2].strip()
    rc = kv.get("status_rc", "")
    log = tuple(ln for ln in (sections(text).get("log") or "").splitlines() if ln.strip())
    return CloudInitStatus(True, int(rc) if rc.isdigit() else None, status, log)


FACT = fact(
    "cloud_init_status",
    parse,
    needs_root=True,
    timeout=15,
    description="cloud-init status --long and the [ERROR]/[WARNING] lines of cloud-init.log",
    offline_note="the status of a boot: the image has none of its own",
)
