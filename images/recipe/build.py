"""Building a test image once: cache lookup, a lock per entry, a temporary build directory, and
the step that makes each variant (the good image from packages, the others derived from it)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from images.recipe.azure import AZURE_TOOLS, derive_azure
from images.recipe.defective import derive_defective
from images.recipe.gen2 import GEN2_TOOLS, derive_gen2
from images.recipe.good import build_good
from images.recipe.key import cached_image_path, default_cache_dir
from images.recipe.nocloud import derive_nocloud
from images.recipe.noeject import NOEJECT_TOOLS, derive_noeject
from images.recipe.tools import Progress, check_prerequisites, locked, safe_rmtree
from images.recipe.variants import Variant, get_variant
from images.recipe.waagent import WAAGENT_TOOLS, derive_waagent

Derive = Callable[[Variant, Path, Path, Progress, Path], Path]
"""``derive(spec, good_vhd, work_dir, say, log) -> built_vhd``."""

DERIVED: dict[str, Derive] = {
    "defective": derive_defective,
    "gen2": derive_gen2,
    "azure": derive_azure,
    "waagent": derive_waagent,
    "nocloud": derive_nocloud,
    "noeject": derive_noeject,
}
"""How each variant other than ``good`` is made from the good image; the function lives in the
module named after the variant (the recipe hash relies on it, see :mod:`images.recipe.key`)."""

EXTRA_TOOLS: dict[str, tuple[str, ...]] = {
    "gen2": GEN2_TOOLS,
    "azure": AZURE_TOOLS,
    "waagent": WAAGENT_TOOLS,
    "nocloud": AZURE_TOOLS,
    "noeject": NOEJECT_TOOLS,
}


def build_test_image(
    variant: str = "good",
    *,
    cache_dir: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Build (or reuse) the test image ``variant`` and return the path of its fixed VHD.

    A cached image is returned at once. Otherwise the image is built as root (the good one takes
    about a minute with a warm package cache; a defective one a few seconds more), written to a
    temporary path and renamed into the cache. ``force`` rebuilds even when cached.

    Raises :class:`~images.errors.ImageInputError` (exit 2) when not root or a tool is missing,
    and :class:`~images.errors.ImageBuildError` (exit 3) when a build step fails (e.g. the mirror
    is down).
    """
    spec = get_variant(variant)
    say = progress or (lambda _message: None)
    target = cached_image_path(spec.name, cache_dir)
    if target.is_file() and not force:
        return target
    check_prerequisites(EXTRA_TOOLS.get(spec.name, ()))
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target.with_suffix(".lock")):
        if target.is_file() and not force:
            return target  # another process built it while we waited for the lock
        _remove_stale_builds(target)
        work = Path(tempfile.mkdtemp(prefix=f".build-{target.stem}-", dir=target.parent))
        log = target.with_suffix(".log")  # kept after the build, for the error message's hint
        log.write_text("")
        try:
            if spec.name == "good":
                started = time.monotonic()
                built = build_good(work, cache_dir or default_cache_dir(), say, log)
            else:
                good = build_test_image("good", cache_dir=cache_dir, progress=progress)
                started = time.monotonic()
                built = DERIVED[spec.name](spec, good, work, say, log)
            os.replace(built, target)
            say(f"{spec.name}: done in {time.monotonic() - started:.0f} s -> {target}")
        finally:
            safe_rmtree(work)
    return target


def _remove_stale_builds(target: Path) -> None:
    # Only called with the entry's lock held, so these belong to dead builders of this entry.
    for stale in target.parent.glob(f".build-{target.stem}-*"):
        safe_rmtree(stale)
