"""The guest ejecting the provisioning CD, seen through a QMP monitor QEMU connects to.

The agents eject the CD once they have read ``ovf-env.xml`` (waagent always, cloud-init when it
provisioned from the media), and QEMU reports that as a ``DEVICE_TRAY_MOVED`` event. It is the
one host-side sign that the media was read: a guest that cannot see the CD may still provision
from IMDS and report Ready (reference §14, pitfall 2). QEMU gets a second, event-only monitor
(``-chardev socket`` in client mode plus ``-mon mode=control``) so the platform's own QMP socket
is left alone; this watcher listens before QEMU starts.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from harness.azure_emulator.errors import EmulatorError
from harness.azure_emulator.media import CD_DEVICE_ID
from harness.azure_emulator.qemuopts import join_options

_SUN_PATH_MAX = 100
_MAX_LINE = 1 << 20
_CHARDEV = "vmcert-qmp-events"


def is_tray_opened(event: object, device_id: str = CD_DEVICE_ID) -> bool:
    """Whether a QMP message is ``DEVICE_TRAY_MOVED`` opening the tray of ``device_id``."""
    if not isinstance(event, dict) or event.get("event") != "DEVICE_TRAY_MOVED":
        return False
    data = event.get("data")
    if not isinstance(data, dict) or data.get("tray-open") is not True:
        return False
    return device_id in (data.get("id"), data.get("device"))


class TrayWatcher:
    """Accepts QEMU's event monitor and calls ``on_eject`` when the CD tray opens."""

    def __init__(self, directory: Path, on_eject: Callable[[], None]) -> None:
        self._own_dir: Path | None = None
        if len(str(directory / "qmp-events.sock")) > _SUN_PATH_MAX:
            self._own_dir = Path(tempfile.mkdtemp(prefix="vmcert-qmpev-"))
            directory = self._own_dir
        self.path = directory / "qmp-events.sock"
        self._on_eject = on_eject
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        """Whether QEMU's event monitor is connected."""
        return self._conn is not None

    def qemu_arguments(self) -> list[str]:
        """A client-mode chardev to :attr:`path` and a control-mode monitor on it."""
        return [
            "-chardev",
            join_options("socket", ("id", _CHARDEV), ("path", str(self.path))),
            "-mon",
            f"chardev={_CHARDEV},mode=control",
        ]

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.path))
            listener.listen(2)
        except OSError as exc:
            listener.close()
            raise EmulatorError(f"cannot listen for QEMU's event monitor: {exc}") from None
        listener.settimeout(0.2)
        self._listener = listener
        self._thread = threading.Thread(target=self._run, name="azure-tray-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and remove the socket (idempotent)."""
        self._stop.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        for sock in (self._listener, self._conn):
            if sock is not None:
                sock.close()
        self._listener = self._conn = None
        with contextlib.suppress(OSError):
            self.path.unlink()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def _run(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conn = conn
            with contextlib.suppress(OSError):
                self._serve(conn)
            conn.close()
            self._conn = None

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        conn.sendall(b'{"execute": "qmp_capabilities"}\n')
        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            if len(buffer) > _MAX_LINE:
                return
            for line in lines:
                try:
                    message: object = json.loads(line)
                except ValueError:
                    continue
                if is_tray_opened(message):
                    self._on_eject()
