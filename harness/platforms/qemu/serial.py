"""The guest's serial console: a watcher that timestamps lines, and what the lines mean.

QEMU writes the console to a file; :class:`SerialWatcher` follows it from a thread, stamping each
line with host-clock seconds since QEMU started (boot timings and the boot benchmark use them),
optionally echoing it live. :func:`fatal_reason` spots a boot that has failed for good and
:func:`host_key_fingerprints` reads the host keys cloud-init prints (the harness pins them).
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

SERIAL_TAIL_LINES = 40

FATAL_SERIAL = (
    ("Kernel panic - not syncing", "kernel panic"),
    ("No bootable device", "no bootable device (firmware found nothing to boot)"),
    ("BdsDxe: No bootable option", "no bootable option (UEFI firmware found nothing to boot)"),
    ("Shell> ", "UEFI firmware dropped to its shell (nothing bootable; wrong --gen?)"),
    # OVMF tries its own PXE only after every disk failed (the NIC has no option ROM)
    ("Start PXE over IPv4", "UEFI firmware found nothing bootable on disk (tried network boot)"),
)
"""Console text that means the boot has failed for good, and what to tell the user."""

_FINGERPRINT = re.compile(r"\b\d+\s+(SHA256:[A-Za-z0-9+/]{43})\b")
_ANSI = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]|\x1b[()][A-Z0-9]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escapes and control characters (firmware paints the screen)."""
    return _ANSI.sub("", text)


class SerialWatcher:
    """Follows the serial log file, timestamping each line with the host clock.

    Times are seconds since ``origin`` (``time.monotonic()`` when QEMU was started).
    """

    def __init__(self, path: Path, origin: float, echo: bool) -> None:
        self.path = path
        self.origin = origin
        self.echo = echo
        self.lines: list[tuple[float, str]] = []
        self._partial = b""
        self._partial_since = 0.0
        """When the unterminated last line began (a login prompt stays unterminated)."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._follow, name="serial-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _follow(self) -> None:
        handle = None
        try:
            while not self._stop.is_set():
                if handle is None:
                    try:
                        handle = self.path.open("rb")
                    except OSError:
                        self._stop.wait(0.05)
                        continue
                chunk = handle.read(65536)
                if chunk:
                    self.feed(chunk)
                else:
                    self._stop.wait(0.05)
            if handle is not None:
                self.feed(handle.read())
        finally:
            if handle is not None:
                handle.close()

    def feed(self, chunk: bytes) -> None:
        """Take ``chunk`` of console output (the follower thread calls this; tests may too)."""
        now = time.monotonic() - self.origin
        data = self._partial + chunk
        *complete, partial = data.split(b"\n")
        if self.echo and chunk:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
        with self._lock:
            if complete or not self._partial:
                self._partial_since = now  # a new unterminated line starts with this chunk
            self._partial = partial
            for raw in complete:
                text = raw.decode("utf-8", errors="replace").rstrip("\r")
                self.lines.append((now, strip_ansi(text)))

    def snapshot(self) -> list[tuple[float, str]]:
        """All complete lines so far plus the unterminated last one, each with the time it
        began to arrive."""
        with self._lock:
            lines = list(self.lines)
            partial, since = self._partial, self._partial_since
        if partial:
            lines.append((since, strip_ansi(partial.decode(errors="replace"))))
        return lines

    def tail(self, count: int = SERIAL_TAIL_LINES) -> list[str]:
        """The last ``count`` non-empty lines."""
        return [line for _, line in self.snapshot() if line.strip()][-count:]

    def first(self, needle: str) -> float | None:
        """Host time of the first line containing ``needle``."""
        for stamp, line in self.snapshot():
            if needle in line:
                return stamp
        return None


def fatal_reason(lines: Iterable[str]) -> str | None:
    """Why the boot has failed for good, when a line of the console says so."""
    for line in lines:
        for needle, meaning in FATAL_SERIAL:
            if needle in line:
                return meaning
    return None


def host_key_fingerprints(lines: list[str]) -> list[str]:
    """Fingerprints cloud-init printed between its SSH HOST KEY FINGERPRINTS markers."""
    found: list[str] = []
    inside = False
    for line in lines:
        if "BEGIN SSH HOST KEY FINGERPRINTS" in line:
            inside = True
            continue
        if "END SSH HOST KEY FINGERPRINTS" in line:
            inside = False
            continue
        if inside:
            match = _FINGERPRINT.search(line)
            if match and match.group(1) not in found:
                found.append(match.group(1))
    return found
