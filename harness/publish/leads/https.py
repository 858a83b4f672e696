"""HTTPS endpoint lead destination: the lead POSTed as JSON; any 2xx is acceptance."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from harness.publish.errors import LeadRejected
from harness.publish.leads import TestLead

TIMEOUT = 30.0
MAX_ERROR_BODY = 500


class HttpsDestination:
    def __init__(self, url: str, ca_file: Path | None = None) -> None:
        self.url = url
        self.ca_file = ca_file

    def describe(self) -> str:
        return f"HTTPS endpoint {self.url.split('?')[0]}"

    def send(self, lead: TestLead) -> None:
        body = json.dumps(lead.https_payload()).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "vmcert-publish"},
        )
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
                response.read(MAX_ERROR_BODY)
        except urllib.error.HTTPError as exc:
            text = exc.read(MAX_ERROR_BODY).decode("utf-8", errors="replace").strip()
            raise LeadRejected(f"HTTP {exc.code} {exc.reason}: {text}".rstrip(": ")) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLError):
                raise LeadRejected(f"TLS failed: {exc.reason}") from None
            raise ConnectionError(f"{self.describe()} unreachable: {exc.reason}") from None

    def read_back(self, lead: TestLead) -> None:
        """An HTTPS endpoint offers no read API: its 2xx answer is the confirmation."""
