"""The HTTP server each emulated service runs on: loopback only, bounded, stoppable.

A guest is untrusted, so the server limits what one can cost the host: at most
:data:`MAX_CONNECTIONS` connections at a time (QEMU spawns a relay process per guest connection;
refusing extra connections at once ends those relays too), bodies kept in memory up to the
service's cap and drained (counted, not kept) up to :data:`MAX_DRAIN_BYTES`, an idle timeout per
connection, and no traceback ever printed: a failing handler answers 500 and is recorded.
:meth:`ServiceServer.stop` closes the listening socket and every open connection and joins every
thread it started.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.azure_emulator.errors import EmulatorError
from harness.azure_emulator.exchange import GuestRequest, Handled, Response, Service
from harness.azure_emulator.timeline import Step

MAX_CONNECTIONS = 32
MAX_BODY_BYTES = 1 << 20
MAX_DRAIN_BYTES = 64 << 20
IDLE_TIMEOUT = 30.0
_CHUNK = 65536
MAX_REQUEST_LINE_LOGGED = 256

ExchangeCallback = Callable[[str, GuestRequest, Handled], None]
"""Called with the service name, the request and its outcome, before the response is sent."""


def require_loopback(host: str) -> str:
    """``host`` when it is an IPv4 loopback address (127.0.0.0/8), else :class:`EmulatorError`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise EmulatorError(f"the emulator binds loopback addresses only, not {host!r}")
    return host


class _Handler(BaseHTTPRequestHandler):
    server: ServiceServer
    protocol_version = "HTTP/1.1"
    server_version = "vmcert-azure-emulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:
        """Silence the stdlib's stderr log; requests are recorded by the server instead."""

    def do_GET(self) -> None:
        self._exchange()

    def do_HEAD(self) -> None:
        self._exchange()

    def do_POST(self) -> None:
        self._exchange()

    def do_PUT(self) -> None:
        self._exchange()

    def do_DELETE(self) -> None:
        self._exchange()

    def _read_body(self) -> tuple[bytes, int] | Response:
        """The body (up to the cap) and its full size, or the response refusing it."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return Response.empty(411)
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b"", 0
        try:
            size = int(declared)
        except ValueError:
            size = -1
        if size < 0:
            self.close_connection = True
            return Response.empty(400)
        if size > MAX_DRAIN_BYTES:
            self.close_connection = True
            return Response.empty(413)
        kept = self.rfile.read(min(size, self.server.max_body))
        remaining = size - len(kept)
        while remaining > 0:  # drain what is not kept, so the connection stays usable
            chunk = self.rfile.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
        return kept, size

    def _exchange(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self._read_body()
        if isinstance(body, Response):
            request = GuestRequest(self.command, self.path, headers)
            handled = Handled(body, Step.REJECTED, f"body refused ({body.status})")
        else:
            request = GuestRequest(self.command, self.path, headers, body[0], body[1])
            try:
                handled = self.server.service.handle(request)
            except Exception as exc:  # a bug must not reach the guest as a traceback
                handled = Handled(Response.empty(500), Step.REJECTED, f"emulator error: {exc!r}")
        self.server.record(request, handled)
        response = handled.response
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, too many headers) are recorded too."""
        raw: bytes = getattr(self, "raw_requestline", b"") or b""
        target = getattr(self, "path", None) or raw[:MAX_REQUEST_LINE_LOGGED].decode("latin-1")
        request = GuestRequest(getattr(self, "command", None) or "?", target)
        self.server.record(request, Handled(Response.empty(code), Step.REJECTED, f"HTTP {code}"))
        super().send_error(code, message, explain)


class ServiceServer(ThreadingHTTPServer):
    """Serves one :class:`~.exchange.Service` on a loopback address."""

    daemon_threads = True
    request_queue_size = 16

    def __init__(
        self,
        host: str,
        port: int,
        service: Service,
        on_exchange: ExchangeCallback,
        *,
        max_body: int = MAX_BODY_BYTES,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.service = service
        self.max_body = max_body
        self.max_connections = max_connections
        self._on_exchange = on_exchange
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._serving: threading.Thread | None = None
        self._stopped = False
        try:
            super().__init__((require_loopback(host), port), _Handler)
        except OSError as exc:
            raise EmulatorError(f"cannot serve {service.name} on {host}:{port}: {exc}") from None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def record(self, request: GuestRequest, handled: Handled) -> None:
        with contextlib.suppress(Exception):  # recording must never break the exchange
            self._on_exchange(self.service.name, request, handled)

    def start(self) -> None:
        self._serving = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"azure-{self.service.name}",
            daemon=True,
        )
        self._serving.start()

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        """One thread per connection, tracked so :meth:`stop` can end and join it."""
        assert isinstance(request, socket.socket)  # a TCP server's request is its socket
        with self._lock:
            refuse = self._stopped or len(self._connections) >= self.max_connections
            if not refuse:
                thread = threading.Thread(
                    target=self._serve_connection,
                    args=(request, client_address),
                    name=f"azure-{self.service.name}-conn",
                    daemon=True,
                )
                self._connections[request] = thread
        if refuse:
            self.record(
                GuestRequest("CONNECT", "/"),
                Handled(Response.empty(503), Step.REJECTED, "too many connections"),
            )
            self.shutdown_request(request)
            return
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: object) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            pass  # a broken guest connection is not an emulator error
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.pop(request, None)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        """Never print a traceback (the stdlib writes to stderr)."""

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._serving is not None:
            self.shutdown()
            self._serving.join(5)
        self.server_close()
        with self._lock:
            open_now = dict(self._connections)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in open_now.values():
            thread.join(5)
