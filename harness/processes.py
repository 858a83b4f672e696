"""Process liveness, shared by the services vmcert leaves running (Azurite, the Azure emulator's
keeper) and the code that watches them."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs: it exists and is not a zombie (a dead child not yet reaped, which
    ``kill(pid, 0)`` alone would call alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # it exited between the two looks
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]
