"""The pipeline's commands against a running ``vmcert serve`` (``--server URL``).

``vmcert publish|go-live|cancel|status|offers|history|catalog|outbox|support --server URL``
call the server's JSON API (:mod:`harness.web.api`) with the bearer token from
``$VMCERT_WEB_TOKEN`` instead of opening the database; the server's worker runs the stages,
and ``--wait`` polls the operation's ``Operation-Location`` until the request waits for the
publisher or ends. The token is sent only in the ``Authorization`` header and never printed;
an answer's text is printed as the server masked it.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import quote, urlsplit

from harness.errors import ConfigError, InfraError, InputError, VmcertError
from harness.publish.errors import PublishRefused, UnknownOffer
from harness.publish.model import INFO
from harness.publish.status import JsonValue

TOKEN_ENV = "VMCERT_WEB_TOKEN"
API_VERSION = "2017-10-31"
TIMEOUT = 30.0
MAX_ANSWER = 8 * 1024 * 1024
Echo = Callable[[str], None]
Document = dict[str, JsonValue]


class ServerUnreachable(InfraError):
    """The server did not answer, or answered something that is not its API."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Document
    headers: dict[str, str]


@dataclass(frozen=True)
class ApiClient:
    """A client of one server's API with one bearer token."""

    base: str
    token: str

    @classmethod
    def from_env(cls, url: str, env: dict[str, str] | None = None) -> ApiClient:
        """The client for ``--server URL``: the URL checked, the token from the environment."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--server {url!r}: give the server's URL, e.g. http://127.0.0.1:8080")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise InputError(f"--server {url!r}: no query, fragment or user in the URL")
        token = (os.environ if env is None else env).get(TOKEN_ENV, "").strip()
        if not token:
            raise ConfigError(
                f"--server: ${TOKEN_ENV} is not set; export the API token `vmcert serve` uses"
            )
        return cls(url.rstrip("/"), token)

    def call(self, method: str, path: str, body: Document | None = None) -> Answer:
        """One API call; an error answer becomes the matching vmcert error (one line)."""
        separator = "&" if "?" in path else "?"
        if "api-version=" not in path:
            path = f"{path}{separator}api-version={API_VERSION}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return self._answer(response.status, response.read(MAX_ANSWER), response.headers)
        except urllib.error.HTTPError as exc:
            answer = self._answer(exc.code, exc.read(MAX_ANSWER), exc.headers)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerUnreachable(
                f"{self.base}: cannot reach the server ({reason}); is `vmcert serve` running?"
            ) from None
        raise _error(self.base, answer)

    def _answer(self, status: int, raw: bytes, headers: object) -> Answer:
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise ServerUnreachable(
                f"{self.base}: answered HTTP {status} without the API's JSON; is it `vmcert serve`?"
            )
        names = dict(getattr(headers, "items", lambda: [])())
        return Answer(status, body, {k.lower(): v for k, v in names.items()})

    # -- the commands' calls -------------------------------------------------------------

    def offers(self) -> list[Document]:
        return _documents(self.call("GET", "/api/offers").body.get("value"))

    def status(self, offer_id: str, number: int | None = None) -> Document:
        """The offer's status resource (of request ``number``: its publish operation)."""
        if number is None:
            return self.call("GET", f"/api/offers/{quote(offer_id, safe='')}/status").body
        operation = quote(f"{offer_id}${number}$publish", safe="")
        return self.call("GET", f"/api/operations/{operation}").body

    def history(self, offer_id: str) -> list[Document]:
        """The offer's events, oldest first (``vmcert history --json``'s documents)."""
        path = f"/api/offers/{quote(offer_id, safe='')}/history"
        return _documents(self.call("GET", path).body.get("value"))

    def catalog(self, subscription: str | None) -> list[Document]:
        """What a catalog query (with ``subscription``, if any) sees."""
        query = f"?subscription={quote(subscription, safe='')}" if subscription else ""
        return _documents(self.call("GET", f"/api/catalog{query}").body.get("value"))

    def outbox(self) -> tuple[list[Document], str | None]:
        """The server's notifications, and its outbox directory (``None`` with an SMTP relay)."""
        body = self.call("GET", "/api/outbox").body
        directory = body.get("outboxDirectory")
        return _documents(body.get("value")), directory if isinstance(directory, str) else None

    def support(self, offer_id: str, message: str) -> tuple[int, str]:
        """Open a support request on the server: its number and the bundle's path there."""
        path = f"/api/offers/{quote(offer_id, safe='')}/support"
        body = self.call("POST", path, {"message": message}).body
        number, bundle = body.get("supportRequest"), body.get("bundle")
        if not isinstance(number, int) or not isinstance(bundle, str):
            raise ServerUnreachable(f"{self.base}: the support answer is not the API's")
        return number, bundle

    def publish(self, offer_id: str, offer_file: Path, emails: tuple[str, ...]) -> Answer:
        body: Document = {"offerFile": str(offer_file.resolve())}
        if emails:
            body["metadata"] = {"notification-emails": ",".join(emails)}
        return self.call("POST", f"/api/offers/{quote(offer_id, safe='')}/publish", body)

    def go_live(self, offer_id: str) -> Answer:
        return self.call("POST", f"/api/offers/{quote(offer_id, safe='')}/golive", {})

    def cancel(self, offer_id: str) -> Answer:
        return self.call("POST", f"/api/offers/{quote(offer_id, safe='')}/cancel", {})

    def wait(
        self, started: Answer, timeout: float, echo: Echo, poll: float | None = None
    ) -> Document:
        """Poll the operation until the request is no longer running (waiting for the
        publisher, or ended), printing each stage as it changes; gives up after ``timeout``."""
        location = started.headers.get("operation-location", "")
        if not location.startswith("/api/operations/"):
            raise ServerUnreachable(f"{self.base}: the answer has no Operation-Location")
        deadline = time.monotonic() + timeout
        document = started.body
        seen: dict[str, str] = {}
        while True:
            _report_changes(document, seen, echo)
            if document.get("status") != "running":
                return document
            if _asking_for_email(document):
                echo(
                    "  Validate prerequisites needs a notification e-mail: give one on the "
                    "offer's Status page, or publish again with --email ADDRESS"
                )
                return document
            if time.monotonic() >= deadline:
                echo(f"  still running after {timeout:.0f} s; `vmcert status` shows it later")
                return document
            retry = started.headers.get("retry-after", "5")
            delay = poll if poll is not None else float(retry) if retry.isdigit() else 5.0
            time.sleep(max(0.05, min(delay, deadline - time.monotonic())))
            document = self.call("GET", location).body


def _documents(value: JsonValue | None) -> list[Document]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _error(base: str, answer: Answer) -> VmcertError:
    error = answer.body.get("error")
    message = ""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = str(error["message"])
    message = message or f"HTTP {answer.status}"
    if answer.status == 401:
        return ConfigError(f"{base}: the server refused the token in ${TOKEN_ENV} ({message})")
    if answer.status == 404:
        return UnknownOffer(message)
    if answer.status == 409:
        return PublishRefused(message)
    if answer.status in (400, 413, 422):
        return InputError(message)
    if answer.status == 429:
        retry = answer.headers.get("retry-after", "60")
        return InfraError(f"{base}: rate limited; retry in {retry} s")
    return ServerUnreachable(f"{base}: HTTP {answer.status}: {message}")


def _asking_for_email(document: Document) -> bool:
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps or document.get("notificationEmails"):
        return False
    first = steps[0]
    return isinstance(first, dict) and first.get("status") == "inProgress"


def _report_changes(document: Document, seen: dict[str, str], echo: Echo) -> None:
    steps = document.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        key, status = str(step.get("id", "")), str(step.get("status", ""))
        if status != "notStarted" and seen.get(key) != status:
            seen[key] = status
            echo(f"  {step.get('stepName', key)}: {status}")


# -- printing (the same lines as the local commands) --------------------------------------


STEP_NAMES = {info.step_id: info.name for info in INFO.values()}
MARKS = {
    "complete": "done",
    "inProgress": "running",
    "waitingForPublisherReview": "waiting",
    "blocked": "FAILED",
    "canceled": "canceled",
    "notStarted": "-",
}


def print_status(document: Document, echo: Echo) -> None:
    """A status resource as ``vmcert status`` prints a request."""
    offer_id = str(document.get("offerId", ""))
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        echo(f"offer {offer_id}: never published")
        return
    echo(f"offer {offer_id}, request {document.get('requestNumber')}: {document.get('status')}")
    for index, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            continue
        mark = MARKS.get(str(step.get("status")), str(step.get("status")))
        estimate = f" (est. {step['estimatedTimeFrame']})" if step.get("estimatedTimeFrame") else ""
        echo(f"  {index}. {step.get('stepName', ''):<44} {mark:<8}{estimate}")
        messages = step.get("messages")
        for message in (messages if isinstance(messages, list) else [])[-12:]:
            if not isinstance(message, dict) or message.get("timestamp") is None:
                continue  # "This step has not started yet."
            prefix = "!" if message.get("level") == "error" else "·"
            echo(f"       {prefix} {unescape(str(message.get('messageHtml', '')))}")
    if document.get("status") == "waitingForPublisherReview":
        echo(f"  next: vmcert go-live {offer_id} --server URL   (or vmcert cancel {offer_id})")
    elif document.get("status") == "failed":
        echo("  fix the problem, then `vmcert publish` again: a new request starts at step 1")


def exit_status(document: Document) -> int:
    return 1 if document.get("status") == "failed" else 0


def print_offers(offers: list[Document], echo: Echo) -> None:
    """The API's offer list as ``vmcert offers`` prints it."""
    if not offers:
        echo("no offers yet (vmcert offer init; vmcert publish offer.toml)")
    for o in offers:
        step = str(o.get("currentStep") or "")
        stage = STEP_NAMES.get(step, step or "-")
        estimate = f" ({o['estimatedTimeFrame']})" if o.get("estimatedTimeFrame") else ""
        offer_id, status = str(o.get("id", "")), str(o.get("offerStatus", ""))
        echo(f"{offer_id:<30} {status:<18} {stage}{estimate}  {o.get('name', '')}")


# -- the commands with --server (called from harness.publish.cli) -----------------------------


def remote_publish(
    server: str, file: Path, emails: tuple[str, ...], wait: bool, timeout: float, echo: Echo
) -> int:
    """``vmcert publish FILE --server URL``: the server publishes from FILE (a path on its
    host: ``vmcert serve`` listens on loopback, so it is this host)."""
    from harness.publish.offer import load_offer

    client = ApiClient.from_env(server)
    offer_id = load_offer(file).offer.id  # OfferFileError for an unreadable file, as locally
    if not offer_id:
        raise InputError(f"{file}: offer.id is missing or not usable; `vmcert offer validate`")
    started = client.publish(offer_id, file, emails)
    echo(f"offer {offer_id}: publish request {started.body.get('requestNumber')} started")
    if not wait:
        return 0
    document = client.wait(started, timeout, echo)
    print_status(document, echo)
    return exit_status(document)


def remote_go_live(server: str, offer_id: str, wait: bool, timeout: float, echo: Echo) -> int:
    client = ApiClient.from_env(server)
    started = client.go_live(offer_id)
    echo(f"offer {offer_id}: signed off; going live")
    document = client.wait(started, timeout, echo) if wait else started.body
    print_status(document, echo)
    return exit_status(document)


def remote_cancel(server: str, offer_id: str, echo: Echo) -> int:
    ApiClient.from_env(server).cancel(offer_id)
    echo(f"offer {offer_id}: publish request canceled; the status is reset to step 1")
    return 0


def remote_status(server: str, offer_id: str, as_json: bool, number: int | None, echo: Echo) -> int:
    document = ApiClient.from_env(server).status(offer_id, number)
    if as_json:
        echo(json.dumps(document, indent=2))
    else:
        print_status(document, echo)
    return 0


def remote_offers(server: str, as_json: bool, echo: Echo) -> int:
    """``vmcert offers --server URL`` (``--json``: the API's ``value`` list as it is)."""
    offers = ApiClient.from_env(server).offers()
    if as_json:
        echo(json.dumps(offers, indent=2))
    else:
        print_offers(offers, echo)
    return 0
