"""Every guest request as one JSON line in the run directory (``azure-requests.jsonl``).

The guest controls paths, headers and bodies, so each line is built to stay valid and small:
bytes are decoded with invalid UTF-8 shown as ``\\xNN`` escapes, every string is cut to a fixed
length, JSON escaping (ASCII only) neutralises control characters and terminal escapes, and the
file stops growing at :data:`MAX_LOG_BYTES` with a final line saying how many entries were left
out. Nothing secret passes through the emulator (no password is ever provisioned).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path

from harness.azure_emulator.exchange import GuestRequest, Handled
from harness.azure_emulator.timeline import Agent

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]

MAX_LOG_BYTES = 32 << 20
MAX_TARGET = 2048
MAX_HEADER = 512
MAX_BODY_EXCERPT = 2048
LOGGED_HEADERS = (
    "user-agent",
    "content-type",
    "content-length",
    "transfer-encoding",
    "metadata",
    "host",
)
MAX_LOGGED_HEADERS = 24


def text_of(data: bytes | str, limit: int) -> str:
    """``data`` as text of at most ``limit`` characters, marking what was cut.

    Bytes that are not UTF-8 become ``\\xNN`` escapes, so the result is always valid text.
    """
    text = data if isinstance(data, str) else data[: limit * 4].decode("utf-8", "backslashreplace")
    size = len(data)
    if len(text) > limit or size > limit * 4:
        unit = "characters" if isinstance(data, str) else "bytes"
        return text[:limit] + f"…[{size} {unit} in all]"
    return text


def _headers(request: GuestRequest) -> dict[str, JsonValue]:
    kept: dict[str, JsonValue] = {}
    for name, value in request.headers.items():
        if name in LOGGED_HEADERS or name.startswith("x-ms-"):
            kept[text_of(name, 64)] = text_of(value, MAX_HEADER)
            if len(kept) >= MAX_LOGGED_HEADERS:
                break
    return kept


def request_entry(
    *,
    at: float,
    wall: float,
    service: str,
    agent: Agent,
    request: GuestRequest,
    handled: Handled,
) -> dict[str, JsonValue]:
    """The log line for one request (``at``: seconds since the emulator started)."""
    entry: dict[str, JsonValue] = {
        "t": round(at, 3),
        "wall": round(wall, 3),
        "service": service,
        "agent": agent.value,
        "method": text_of(request.method, 16),
        "target": text_of(request.target, MAX_TARGET),
        "status": handled.response.status,
        "step": handled.step.value,
        "headers": _headers(request),
        "body_bytes": request.body_size,
    }
    if handled.detail:
        entry["detail"] = text_of(handled.detail, MAX_TARGET)
    if request.body:
        entry["body"] = text_of(request.body, MAX_BODY_EXCERPT)
    if handled.health is not None:
        report = handled.health
        entry["health"] = {
            "state": report.state.value,
            "substatus": report.substatus,
            "description": report.description,
            "incarnation": report.incarnation,
            "container_id": report.container_id,
            "instance_id": report.instance_id,
            "ids_match": handled.ids_match,
            "error": report.error,
        }
    if handled.status is not None:
        status = handled.status
        entry["agent_status"] = {
            "status": status.status,
            "version": status.version,
            "message": status.message,
            "error": status.error,
        }
    return entry


class RequestLog:
    """An append-only JSON-lines file, safe to write from several threads, bounded in size."""

    def __init__(self, path: Path, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.written = 0
        self.dropped = 0
        self._size = 0
        self._lock = threading.Lock()
        self._handle = path.open("a", encoding="ascii")

    def write(self, entry: Mapping[str, JsonValue]) -> None:
        """Append ``entry`` (JSON, ASCII only) unless the size cap is reached."""
        line = json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n"
        with self._lock:
            if self._handle.closed:
                self.dropped += 1
                return
            if self._size + len(line) > self.max_bytes:
                self.dropped += 1
                return
            self._handle.write(line)
            self._handle.flush()
            self._size += len(line)
            self.written += 1

    def close(self) -> None:
        """Note how many entries did not fit, and close (idempotent)."""
        with self._lock:
            if self._handle.closed:
                return
            if self.dropped:
                marker = {"truncated": True, "entries_not_logged": self.dropped}
                self._handle.write(json.dumps(marker) + "\n")
            self._handle.close()
