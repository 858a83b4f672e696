"""Hard limits on what reading an image's files may cost (hostile images must not hang or OOM)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on every read; exceeding one raises :class:`~images.fs.errors.ImageLimitError`."""

    max_read_bytes: int = 256 * 1024 * 1024
    """No single read returns more than this, whatever ``max_bytes`` a caller passes."""
    default_read_bytes: int = 16 * 1024 * 1024
    """``max_bytes`` of :meth:`~images.fs.files.ImageFiles.read_file` when not given."""
    max_symlinks: int = 40
    """Symbolic links followed while resolving one path (Linux's own limit)."""
    max_path_components: int = 1024
    """Components walked while resolving one path, symlink targets included."""
    max_path_bytes: int = 4096
    """Longest path or symlink target accepted (Linux's ``PATH_MAX``)."""
    max_dir_entries: int = 200_000
    """Entries one directory may list."""
    max_results: int = 20_000
    """Paths one :meth:`~images.fs.files.ImageFiles.glob` may return or visit per component."""
    max_depth: int = 64
    """Directory levels a recursive ``**`` glob descends."""
