"""The test-image cache: which entries the current recipe uses, and pruning the rest.

Every change of the code that shapes a variant's bytes changes its recipe hash
(:mod:`images.recipe.key`), so the variant gets a new cache entry (``debian12-<variant>-<hash>.vhd``
with its ``.log`` and ``.lock``, about 750 MiB) and the old one stays behind. :func:`prune` removes
every entry that no current variant names. An entry whose lock is held (a build running right now)
is left alone and reported as busy.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from images.recipe import VARIANTS, cached_image_path, default_cache_dir
from images.recipe.tools import safe_rmtree

_ENTRY = re.compile(r"^debian12-(?P<variant>[a-z0-9]+)-(?P<hash>[0-9a-f]{16})\.(vhd|log|lock)$")


@dataclass(frozen=True)
class CacheEntry:
    """One stale cache entry: its files (VHD, log, lock, leftover build directories)."""

    variant: str
    recipe_hash: str
    files: tuple[Path, ...]
    size: int
    """Bytes on disk when it was found (allocated blocks: the VHDs are sparse)."""


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune` removed (or would remove) and what it left because a build holds it."""

    removed: tuple[CacheEntry, ...]
    busy: tuple[CacheEntry, ...]

    @property
    def freed(self) -> int:
        """Bytes freed (or that would be freed)."""
        return sum(entry.size for entry in self.removed)


def stale_entries(cache_dir: Path | None = None) -> list[CacheEntry]:
    """Entries under ``<cache>/images`` that no current variant's recipe hash names."""
    root = (cache_dir or default_cache_dir()) / "images"
    if not root.is_dir():
        return []
    current = {cached_image_path(name, cache_dir).stem for name in VARIANTS}
    grouped: dict[tuple[str, str, str], list[Path]] = {}
    for path in sorted(root.iterdir()):
        match = _ENTRY.match(path.name)
        if match and path.stem not in current and path.is_file():
            grouped.setdefault((path.stem, match["variant"], match["hash"]), []).append(path)
    entries = []
    for (stem, variant, recipe), files in grouped.items():
        builds = sorted(p for p in root.glob(f".build-{stem}-*") if p.is_dir())
        paths = (*files, *builds)
        size = sum(_allocated(path) for path in paths)
        entries.append(CacheEntry(variant, recipe, paths, size))
    return entries


def prune(cache_dir: Path | None = None, *, dry_run: bool = False) -> PruneResult:
    """Remove every stale entry whose lock nobody holds; ``dry_run`` only reports them."""
    removed: list[CacheEntry] = []
    busy: list[CacheEntry] = []
    for entry in stale_entries(cache_dir):
        lock = next((p for p in entry.files if p.suffix == ".lock"), None)
        with _try_lock(lock) as free:
            if not free:
                busy.append(entry)
                continue
            removed.append(entry)
            if dry_run:
                continue
            for path in entry.files:
                if path.is_dir():
                    safe_rmtree(path)  # refuses to delete through a mount left by a dead build
                elif path != lock:
                    path.unlink(missing_ok=True)
            if lock is not None:
                lock.unlink(missing_ok=True)  # last, while still held: no builder slips in
    return PruneResult(tuple(removed), tuple(busy))


@contextlib.contextmanager
def _try_lock(path: Path | None) -> Iterator[bool]:
    """Hold ``path``'s flock if nobody else does; yields whether it was free."""
    if path is None:
        yield True
        return
    with open(path, "a+b") as handle:  # closing releases the flock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _allocated(path: Path) -> int:
    """Allocated bytes of a file, or of everything below a directory; links are not followed
    (a leftover build's root file system has absolute links into the host)."""
    paths = [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]
    total = 0
    for each in paths:
        with contextlib.suppress(OSError):
            total += each.lstat().st_blocks * 512
    return total
