"""One guest request and the emulator's answer, independent of the HTTP server.

The services (:mod:`.wireserver`, :mod:`.hostgaplugin`, :mod:`.imds`) are pure functions from a
:class:`GuestRequest` to a :class:`Handled`: the response plus what the request meant for
provisioning (the :class:`~.timeline.Step`, a parsed health report or agent status). The HTTP
layer (:mod:`.httpserver`) builds the request with a bounded body and records the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from harness.azure_emulator.health import AgentStatus, HealthReport
from harness.azure_emulator.timeline import Step

XML = "text/xml; charset=utf-8"
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
MAX_QUERY_FIELDS = 64


@dataclass(frozen=True)
class GuestRequest:
    """A request as the guest sent it; ``body`` holds at most the server's cap."""

    method: str
    target: str
    """The request target as sent (origin form ``/path?q`` or absolute form ``http://h/path``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Header names in lower case."""
    body: bytes = b""
    body_size: int = 0
    """Bytes the guest sent (or declared), which may exceed ``len(body)``."""

    @property
    def body_truncated(self) -> bool:
        return self.body_size > len(self.body)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> dict[str, str]:
        """The first value of each query parameter (at most 64 parameters are read)."""
        try:
            parsed = parse_qs(
                urlsplit(self.target).query,
                keep_blank_values=True,
                max_num_fields=MAX_QUERY_FIELDS,
            )
        except ValueError:
            return {}
        return {key: values[0] for key, values in parsed.items()}

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class Response:
    """What the emulator answers."""

    status: int
    body: bytes = b""
    content_type: str = XML

    @classmethod
    def xml(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8"), XML)

    @classmethod
    def json(cls, value: object, status: int = 200) -> Response:
        return cls(status, json.dumps(value).encode("utf-8"), JSON)

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8"), TEXT)

    @classmethod
    def empty(cls, status: int = 200) -> Response:
        return cls(status, b"", TEXT)


@dataclass(frozen=True)
class Handled:
    """A response and what the request meant for provisioning."""

    response: Response
    step: Step
    detail: str = ""
    health: HealthReport | None = None
    ids_match: bool | None = None
    """For a health report: whether its ids are the goal state's (``None``: format has none)."""
    status: AgentStatus | None = None


class Service(Protocol):
    """One emulated endpoint."""

    name: str
    """``wireserver``, ``hostgaplugin`` or ``imds`` (used in the request log)."""

    def handle(self, request: GuestRequest) -> Handled:
        """Answer ``request``; never raises for anything the guest sent."""
        ...
