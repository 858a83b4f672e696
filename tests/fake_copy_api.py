"""A local HTTP fake of the Copy Blob / Get Blob Properties / Abort Copy wire protocol.

Azurite finishes every copy before answering (status ``success`` at once, reference P8), so the
``server`` strategy's polling is tested against this fake. The destination blob's name picks the
scenario: ``success-N`` (pending for N polls, then success), ``failed-N``, ``aborted-N``,
``stuck`` (pending until aborted) and ``refused`` (Copy Blob answers 403 CannotVerifyCopySource).
Only 127.0.0.1 is bound; no authentication is checked.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeCopy:
    """The state of one copy in the fake."""

    scenario: str
    polls_left: int
    copy_id: str
    source: str
    status: str = "pending"
    polls: int = 0
    aborted_by_client: bool = False


@dataclass
class FakeCopyService:
    """The fake service; use as a context manager, then make clients for :attr:`url`."""

    size: int = 8 * 1024 * 1024
    copies: dict[str, FakeCopy] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeCopyService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:  # keep test output clean
                pass

            def _reply(self, code: int, headers: dict[str, str], body: bytes = b"") -> None:
                self.send_response(code)
                base = {
                    "x-ms-request-id": str(uuid.uuid4()),
                    "x-ms-version": "2025-11-05",
                    "Date": formatdate(usegmt=True),
                    "Content-Length": str(len(body)),
                }
                for key, value in {**base, **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def _blob(self) -> tuple[str, dict[str, list[str]]]:
                parts = urlsplit(self.path)
                return parts.path, parse_qs(parts.query)

            def do_PUT(self) -> None:
                path, query = self._blob()
                service.requests.append(("PUT", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if query.get("comp") == ["copy"]:  # Abort Copy Blob
                    copy = service.copies.get(path)
                    if copy is None or copy.copy_id != query.get("copyid", [""])[0]:
                        self._reply(409, {"x-ms-error-code": "NoPendingCopyOperation"})
                        return
                    copy.status, copy.aborted_by_client = "aborted", True
                    self._reply(204, {})
                    return
                source = self.headers.get("x-ms-copy-source")
                if source is None:
                    self._reply(400, {"x-ms-error-code": "MissingRequiredHeader"})
                    return
                name = path.rsplit("/", 1)[-1]
                scenario, _, n = name.partition("-")
                if scenario == "refused":
                    body = (
                        b'<?xml version="1.0" encoding="utf-8"?><Error><Code>CannotVerifyCopySource'
                        b"</Code><Message>Server failed to authenticate the request."
                        b"</Message></Error>"
                    )
                    self._reply(
                        403,
                        {
                            "x-ms-error-code": "CannotVerifyCopySource",
                            "Content-Type": "application/xml",
                        },
                        body,
                    )
                    return
                copy = FakeCopy(
                    scenario=scenario,
                    polls_left=int(n) if n.isdigit() else 10**9,
                    copy_id=str(uuid.uuid4()),
                    source=source,
                )
                service.copies[path] = copy
                self._reply(
                    202,
                    {
                        "ETag": '"0x8D0000000000001"',
                        "Last-Modified": formatdate(usegmt=True),
                        "x-ms-copy-id": copy.copy_id,
                        "x-ms-copy-status": copy.status,
                    },
                )

            def do_HEAD(self) -> None:  # Get Blob Properties
                path, _query = self._blob()
                service.requests.append(("HEAD", self.path))
                copy = service.copies.get(path)
                if copy is None:
                    self._reply(404, {"x-ms-error-code": "BlobNotFound"})
                    return
                copy.polls += 1
                if copy.status == "pending":
                    copy.polls_left -= 1
                    if copy.polls_left <= 0:
                        copy.status = {
                            "success": "success",
                            "failed": "failed",
                            "aborted": "aborted",
                        }.get(copy.scenario, "pending")
                done = service.size if copy.status == "success" else service.size // 2
                headers = {
                    "ETag": '"0x8D0000000000002"',
                    "Last-Modified": formatdate(usegmt=True),
                    "Content-Length": str(service.size),
                    "Content-Type": "application/octet-stream",
                    "x-ms-blob-type": "PageBlob",
                    "x-ms-copy-id": copy.copy_id,
                    "x-ms-copy-status": copy.status,
                    "x-ms-copy-source": copy.source,
                    "x-ms-copy-progress": f"{done}/{service.size}",
                }
                if copy.status == "failed":
                    headers["x-ms-copy-status-description"] = (
                        "500 InternalError Copy failed on the source"
                    )
                if copy.status == "aborted":
                    headers["x-ms-copy-status-description"] = "aborted by the service operator"
                self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("x-ms-request-id", str(uuid.uuid4()))
                self.send_header("x-ms-version", "2025-11-05")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
