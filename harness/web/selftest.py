"""``POST /selftest-vm``: Microsoft's VM self-test API, answered by vmcert's own checks.

The request body is the self-test's (both documented spellings: ``UserName`` or ``User``,
``AppId`` or ``AppID``, field names in any case, ``PortNo`` as text or number); vmcert logs in to
``DNSName:PortNo`` over SSH with the password, runs its online checks as ``vmcert check`` does
(the ``ssh`` platform, no image, the ``selftest`` policy), and answers the envelope
``{"TrackingId": ..., "Response": "<the self-test result as a JSON string>"}``, whose inner
document is the ``selftest`` report's (:func:`reports.selftest.image_document`).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import InfraError, InputError
from harness.publish.status import JsonValue

MAX_FIELD = 1024


class SelftestBadRequest(InputError):
    """The body is not a usable self-test request (400)."""


class SelftestUnreachable(InfraError):
    """The VM could not be reached or logged in to (502)."""


@dataclass(frozen=True)
class SelftestRequest:
    dns_name: str
    user: str
    password: str
    os: str
    port: int
    company: str
    app_id: str

    def __repr__(self) -> str:  # the password never reaches a log line
        return f"SelftestRequest({self.user}@{self.dns_name}:{self.port}, os={self.os})"


def parse_request(body: Mapping[str, JsonValue]) -> SelftestRequest:
    """The request from a decoded JSON body; :class:`SelftestBadRequest` names what is wrong."""
    fields = {key.strip().lower(): value for key, value in body.items()}

    def text(*names: str, required: bool = True) -> str:
        for name in names:
            value = fields.get(name.lower())
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise SelftestBadRequest(f"{names[0]} must be a string")
            result = str(value).strip()
            if len(result) > MAX_FIELD or any(ord(c) < 32 for c in result):
                raise SelftestBadRequest(f"{names[0]}: too long or has control characters")
            if result:
                return result
        if required:
            raise SelftestBadRequest(f"{' or '.join(names)} is required")
        return ""

    host = text("DNSName")
    user = text("UserName", "User")
    password_value = fields.get("password")
    if not isinstance(password_value, str) or not password_value:
        raise SelftestBadRequest("Password is required")
    os_name = text("OS", required=False) or "Linux"
    if os_name.lower() != "linux":
        raise SelftestBadRequest(f"OS {os_name!r}: vmcert checks Linux virtual machines only")
    port_text = text("PortNo", required=False) or "22"
    try:
        port = int(port_text)
    except ValueError:
        raise SelftestBadRequest(f"PortNo {port_text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise SelftestBadRequest(f"PortNo {port} is not a port number")
    return SelftestRequest(
        dns_name=host,
        user=user,
        password=password_value,
        os="Linux",
        port=port,
        company=text("CompanyName", required=False),
        app_id=text("AppId", required=False),
    )


class SelftestRunner:
    """Runs self-tests, at most ``parallel`` at once (each holds an SSH session)."""

    def __init__(self, known_hosts: Path, parallel: int = 2, timeout: float = 15.0) -> None:
        self._known_hosts = known_hosts
        self._slots = threading.BoundedSemaphore(parallel)
        self._timeout = timeout

    def try_run(self, request: SelftestRequest) -> dict[str, str] | None:
        """The response envelope, or ``None`` when every slot is busy."""
        if not self._slots.acquire(blocking=False):
            return None
        try:
            return self.run(request)
        finally:
            self._slots.release()

    def run(self, request: SelftestRequest) -> dict[str, str]:
        from harness.platforms.options import Secret
        from harness.platforms.ssh import SshOptions
        from harness.runner import CertifyOptions, certify
        from reports.selftest import image_document

        self._known_hosts.parent.mkdir(parents=True, exist_ok=True)
        self._known_hosts.touch(exist_ok=True)
        options = SshOptions(
            host=request.dns_name,
            port=request.port,
            user=request.user,
            password=Secret.of(request.password),
            known_hosts=self._known_hosts,
            connect_timeout=self._timeout,
        )
        run, _ = certify(
            [None],
            CertifyOptions(
                platform="ssh",
                platform_options=options,
                policy="selftest",
                retries=0,
                write_files=False,
            ),
        )
        report = run.images[0]
        if report.infra_error is not None:
            failure = (
                report.infra_attempts[-1].error if report.infra_attempts else report.infra_error
            )
            raise SelftestUnreachable(
                f"{request.dns_name}:{request.port}: {failure}".replace(request.password, "***")
            )
        created = datetime.now(UTC).strftime("%m/%d/%Y %H:%M:%S")
        document = image_document(report, created)
        return {"TrackingId": str(uuid.uuid4()), "Response": json.dumps(document)}
