"""The peer of QEMU's ``filter-redirector``: adds DHCP options 245 and 121 to slirp's replies.

With ``-object filter-redirector,netdev=N,queue=tx,outdev=OUT,indev=IN`` QEMU sends every frame
slirp emits towards the guest to the ``OUT`` chardev and delivers what it reads from ``IN`` to the
guest. Both chardevs are Unix sockets that QEMU connects to at start-up, so this peer listens
*before* QEMU starts (a redirector without its chardev lets frames through unmodified, and an
early DHCP exchange would then lack the options). Framing on both: a 4-byte big-endian length,
then the Ethernet frame.

Every frame to the guest passes through this thread, so it never blocks on one side: QEMU
writes ``OUT`` synchronously, and a peer that stopped reading ``OUT`` while waiting to write
``IN`` would stall the VM. Both sockets are non-blocking, multiplexed with a selector, and frames
wait in a bounded queue (dropped past it, as a congested link would).
"""

from __future__ import annotations

import contextlib
import selectors
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from harness.azure_emulator.dhcp import DHCP_ACK, parse_dhcp_reply, patch_dhcp_reply
from harness.azure_emulator.errors import EmulatorError
from harness.azure_emulator.qemuopts import join_options

MAX_FRAME = 1 << 20
MAX_PENDING = 32 << 20
_SUN_PATH_MAX = 100


class DhcpRedirector:
    """Listens on two Unix sockets for QEMU's redirector and patches DHCP replies in a thread.

    ``on_patch`` is called (from the thread) with ``"OFFER"`` or ``"ACK"`` for each patched reply.
    A later QEMU connection on either socket replaces the earlier one (the platform may restart
    QEMU when its SSH port was taken).
    """

    def __init__(self, directory: Path, on_patch: Callable[[str], None] | None = None) -> None:
        self._own_dir: Path | None = None
        if len(str(directory / "dhcp-out.sock")) > _SUN_PATH_MAX:
            # AF_UNIX paths are limited to 107 bytes: a deep run directory gets a short one.
            self._own_dir = Path(tempfile.mkdtemp(prefix="vmcert-dhcp-"))
            directory = self._own_dir
        self.out_path = directory / "dhcp-out.sock"
        self.in_path = directory / "dhcp-in.sock"
        self._on_patch = on_patch
        self._selector = selectors.DefaultSelector()
        self._listeners: dict[str, socket.socket] = {}
        self._conn: dict[str, socket.socket | None] = {"out": None, "in": None}
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.patched = 0
        self.dropped = 0
        self.forwarded = 0
        self._release = threading.Event()

    @property
    def connected(self) -> bool:
        """Whether QEMU is connected on both sockets."""
        return self._conn["out"] is not None and self._conn["in"] is not None

    def qemu_arguments(self, netdev_id: str) -> list[str]:
        """The chardevs and the ``filter-redirector`` object for netdev ``netdev_id``."""
        return [
            "-chardev",
            join_options("socket", ("id", "vmcert-dhcp-out"), ("path", str(self.out_path))),
            "-chardev",
            join_options("socket", ("id", "vmcert-dhcp-in"), ("path", str(self.in_path))),
            "-object",
            join_options(
                "filter-redirector",
                ("id", "vmcert-dhcp"),
                ("netdev", netdev_id),
                ("queue", "tx"),
                ("outdev", "vmcert-dhcp-out"),
                ("indev", "vmcert-dhcp-in"),
            ),
        ]

    def start(self) -> None:
        """Listen on both sockets and start the frame thread."""
        try:
            for name, path in (("out", self.out_path), ("in", self.in_path)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._listeners[name] = listener
                listener.bind(str(path))
                listener.listen(2)
                listener.setblocking(False)
                self._selector.register(listener, selectors.EVENT_READ, ("listen", name))
        except OSError as exc:
            self.stop()
            raise EmulatorError(f"cannot listen for QEMU's DHCP redirector: {exc}") from None
        self._thread = threading.Thread(target=self._run, name="azure-dhcp-redirector", daemon=True)
        self._thread.start()

    def connection_fds(self) -> tuple[int, int] | None:
        """The file descriptors of QEMU's two connections (``out``, ``in``), while connected: a
        keeper process inherits them, since QEMU's redirector never re-reads a reconnected
        ``in`` chardev."""
        out, into = self._conn["out"], self._conn["in"]
        return None if out is None or into is None else (out.fileno(), into.fileno())

    def adopt(self, out_fd: int, in_fd: int) -> None:
        """Serve QEMU's connections inherited from the process that accepted them (after
        :meth:`start`)."""
        for name, fd in (("out", out_fd), ("in", in_fd)):
            conn = socket.socket(fileno=fd)
            conn.setblocking(False)
            self._conn[name] = conn
            self._selector.register(conn, selectors.EVENT_READ, ("conn", name))

    def release(self, timeout: float = 2.0) -> None:
        """Stop serving at a frame boundary and leave QEMU's connections open (for the keeper
        that inherited them); the socket files stay too."""
        self._release.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """Stop the thread, close every socket and remove the socket files (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        for sock in [*self._listeners.values(), *(c for c in self._conn.values() if c)]:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()
        self._listeners.clear()
        self._conn = {"out": None, "in": None}
        self._selector.close()
        for path in (self.out_path, self.in_path):
            with contextlib.suppress(OSError):
                path.unlink()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    # -- the frame loop -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._release.is_set() and not self._inbuf and not self._outbuf:
                return  # a frame boundary: the keeper picks up from here
            for key, events in self._selector.select(timeout=0.05):
                role, name = key.data
                try:
                    if role == "listen":
                        self._accept(name)
                    elif events & selectors.EVENT_READ and name == "out":
                        self._read_out()
                    elif events & selectors.EVENT_READ and name == "in":
                        self._drain_in_peer()
                    if events & selectors.EVENT_WRITE and name == "in":
                        self._flush()
                except OSError:
                    self._drop(name)

    def _accept(self, name: str) -> None:
        conn, _ = self._listeners[name].accept()
        conn.setblocking(False)
        self._drop(name)
        self._conn[name] = conn
        if name == "out":
            self._inbuf.clear()
        else:
            self._outbuf.clear()
        self._selector.register(conn, selectors.EVENT_READ, ("conn", name))

    def _drop(self, name: str) -> None:
        conn = self._conn.get(name)
        if conn is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn)
        conn.close()
        self._conn[name] = None

    def _read_out(self) -> None:
        conn = self._conn["out"]
        assert conn is not None
        data = conn.recv(262144)
        if not data:
            self._drop("out")
            return
        self._inbuf += data
        while len(self._inbuf) >= 4:
            (size,) = struct.unpack("!I", self._inbuf[:4])
            if size > MAX_FRAME:  # not QEMU's framing: resynchronising is impossible
                self._drop("out")
                return
            if len(self._inbuf) < 4 + size:
                break
            frame = bytes(self._inbuf[4 : 4 + size])
            del self._inbuf[: 4 + size]
            self._forward(frame)

    def _forward(self, frame: bytes) -> None:
        patched = patch_dhcp_reply(frame)
        if patched is not None:
            frame = patched
            self.patched += 1
            if self._on_patch is not None:
                reply = parse_dhcp_reply(frame)
                ack = reply is not None and reply.message_type == DHCP_ACK
                self._on_patch("ACK" if ack else "OFFER")
        if self._conn["in"] is None or len(self._outbuf) + len(frame) > MAX_PENDING:
            self.dropped += 1
            return
        self._outbuf += struct.pack("!I", len(frame)) + frame
        self.forwarded += 1
        self._flush()

    def _flush(self) -> None:
        conn = self._conn["in"]
        if conn is None:
            return
        if self._outbuf:
            try:
                sent = conn.send(self._outbuf)
            except BlockingIOError:
                sent = 0
            del self._outbuf[:sent]
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._outbuf else 0)
        self._selector.modify(conn, wanted, ("conn", "in"))

    def _drain_in_peer(self) -> None:
        """QEMU never writes to the ``IN`` chardev; reading only notices it closing."""
        conn = self._conn["in"]
        assert conn is not None
        if not conn.recv(4096):
            self._drop("in")
