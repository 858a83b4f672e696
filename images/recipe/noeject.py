"""The noeject variant: the waagent image without ``eject``.

waagent 2.7.3 runs ``eject`` after copying ``ovf-env.xml`` from the provisioning media; without
the binary it dies with an uncaught ``FileNotFoundError`` before any request reaches the
WireServer (shared/reference/azure-provisioning-local.md §14). On Azure that is "OS Provisioning
did not finish in the allotted time" after 20 minutes; cloud-init is switched off, so NoCloud
gives no way in either. It proves that such an image fails early, from the serial console and
the empty request log, with the agent's crash as the diagnosis.
"""

from __future__ import annotations

from pathlib import Path

from images.recipe.tools import PARTITION_OFFSET, Progress, run
from images.recipe.variants import Variant
from images.recipe.waagent import derive_waagent

NOEJECT_TOOLS: tuple[str, ...] = ("debugfs",)

EJECT = "/usr/bin/eject"


def derive_noeject(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """The waagent variant's edits, then ``eject`` removed."""
    vhd = derive_waagent(spec, good, work, say, log)
    say(f"{spec.name}: removing {EJECT}")
    target = f"{vhd}?offset={PARTITION_OFFSET}"
    run(["debugfs", "-w", "-R", f"rm {EJECT}", target], f"removing {EJECT}", log)
    return vhd
