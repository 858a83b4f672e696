"""Resume journals: which pieces of an upload the service acknowledged, kept across runs.

Each target blob of an upload keeps a :class:`Journal` in the cache dir. An interrupted upload
resumes from it without re-sending those pieces; the final digest check decides whether the blob
is good, and a verified or failed region's journal is discarded.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """Where resume journals live (``$VMCERT_CACHE_DIR`` or the user cache dir)."""
    env = os.environ.get("VMCERT_CACHE_DIR")
    return (Path(env) if env else Path(platformdirs.user_cache_dir("vmcert"))) / "replicate"


def ranges_fingerprint(pieces: Sequence[tuple[int, int]]) -> str:
    """A short hash of the piece list: a journal is only valid for the same pieces."""
    h = hashlib.sha256()
    for offset, length in pieces:
        h.update(f"{offset}:{length};".encode())
    return h.hexdigest()[:16]


class Journal:
    """Pieces of one target blob that the service acknowledged, persisted atomically.

    The file is keyed by endpoint, container, blob name, image size, digest and piece list, so a
    journal can never be applied to different content. Writes go to a temp file and
    ``os.replace`` (never a torn file); a SIGKILL loses at most :attr:`interval` seconds of acks,
    which are simply re-sent.
    """

    interval = 0.5

    def __init__(
        self, endpoint: str, container: str, blob: str, size: int, digest: str, pieces: str
    ):
        self.identity: dict[str, str | int] = {
            "endpoint": endpoint,
            "container": container,
            "blob": blob,
            "size": size,
            "digest": digest,
            "pieces": pieces,
        }
        key = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:24]
        self.path = cache_dir() / f"{key}.json"
        self.done: set[int] = set()
        self._lock = threading.Lock()
        self._last_flush = 0.0
        self._dirty = False

    def load(self) -> set[int]:
        """Read the acknowledged pieces (empty when there is no matching journal)."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return set()
        if not isinstance(data, dict) or data.get("identity") != self.identity:
            return set()
        self.done = {int(i) for i in data.get("done", [])}
        return set(self.done)

    def mark(self, index: int) -> None:
        """Record piece ``index`` as acknowledged; flushes at most every :attr:`interval` s."""
        with self._lock:
            self.done.add(index)
            self._dirty = True
            if time.monotonic() - self._last_flush >= self.interval:
                self._flush_locked()

    def flush(self) -> None:
        """Write the journal now (if anything changed)."""
        with self._lock:
            if self._dirty:
                self._flush_locked()

    def _flush_locked(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"identity": self.identity, "done": sorted(self.done)}))
        os.replace(tmp, self.path)
        self._last_flush = time.monotonic()
        self._dirty = False

    def discard(self) -> None:
        """Forget the journal (after a verified blob, or before a fresh upload)."""
        with self._lock:
            self.done.clear()
            self._dirty = False
            self.path.unlink(missing_ok=True)


_discard_lock = threading.Lock()


def discard_journals(endpoint: str, container: str, blob: str, size: int, digest: str) -> None:
    """Remove every journal of one blob for this content, whatever its piece fingerprint."""
    with _discard_lock:
        directory = cache_dir()
        if not directory.is_dir():
            return
        for path in directory.glob("*.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            ident = data.get("identity", {}) if isinstance(data, dict) else {}
            if (
                isinstance(ident, dict)
                and ident.get("endpoint") == endpoint
                and ident.get("container") == container
                and ident.get("blob") == blob
                and ident.get("digest") == digest
                and ident.get("size") == size
            ):
                path.unlink(missing_ok=True)
