"""Small helpers every build step shares: running tools, writing files, locks, safe removal."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from images.errors import ImageBuildError, ImageInputError

MIB = 1024 * 1024

PARTITION_OFFSET = 1024 * 1024
"""The root partition starts at LBA 2048."""

REQUIRED_TOOLS: tuple[str, ...] = (
    "mmdebstrap",
    "mke2fs",
    "qemu-img",
    "unshare",
    "mount",
    "umount",
    "chroot",
    "useradd",
    "mkswap",
)

INSTALL_HINT = "run `bash scripts/install.sh` as root"

Progress = Callable[[str], None]
"""Receives one line per build stage."""


def check_prerequisites(extra_tools: tuple[str, ...] = ()) -> None:
    """Raise :class:`ImageInputError` naming the fix when not root or a build tool is missing."""
    if os.geteuid() != 0:
        raise ImageInputError(
            "building a test image needs root (mmdebstrap, loop mounts); run it as root "
            "after `bash scripts/install.sh`"
        )
    missing = [
        tool for tool in REQUIRED_TOOLS + extra_tools if not shutil.which(tool, path=tool_path())
    ]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ImageInputError(
            f"building a test image needs {', '.join(missing)}, which {verb} not installed; "
            f"{INSTALL_HINT}"
        )


def tool_path() -> str:
    """PATH plus the sbin directories (root's tools are there; `su` without `-` drops them)."""
    parts = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    extra = [d for d in ("/usr/local/sbin", "/usr/sbin", "/sbin") if d not in parts]
    return os.pathsep.join(parts + extra)


def run(args: list[str], what: str, log: Path | None = None, **kwargs: object) -> str:
    """Run a build step; on failure raise :class:`ImageBuildError` with the step and the end of
    its output. Returns its stdout."""
    kwargs.setdefault("env", {**os.environ, "PATH": tool_path()})
    proc = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    output = (proc.stdout or "") + (proc.stderr or "")
    if log is not None:
        with open(log, "a") as handle:
            handle.write(f"$ {' '.join(args)}\n{output}\n")
    if proc.returncode != 0:
        tail = " | ".join(line for line in output.strip().splitlines()[-3:])
        hint = f" (full log: {log})" if log else ""
        raise ImageBuildError(
            f"test image build: {what} failed (exit {proc.returncode}): {tail}{hint}"
        )
    return str(proc.stdout)


def write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` (parents created) with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (created if missing)."""
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()).rstrip("/") + "/"
    mounts = []
    with open("/proc/self/mounts") as handle:
        for line in handle:
            point = line.split()[1].replace("\\040", " ")
            if point.startswith(prefix) or point == prefix.rstrip("/"):
                mounts.append(point)
    return mounts


def safe_rmtree(path: Path) -> None:
    """Remove a build directory, but never through a mount point left by a killed build."""
    if not path.exists():
        return
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    if _mounts_under(path):
        return  # refuse: deleting through a bind mount of /dev or /proc would harm the host
    shutil.rmtree(path, ignore_errors=True)


def remove(path: Path) -> None:
    """Remove a file, link or directory (directories through :func:`safe_rmtree`)."""
    if path.is_dir() and not path.is_symlink():
        safe_rmtree(path)
    else:
        path.unlink(missing_ok=True)
