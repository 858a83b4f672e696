"""What the guest's agents report: health reports and VM-agent status blobs.

Everything here parses text a guest wrote, so it is treated as hostile: bodies are bounded by the
caller, XML with a DTD is refused (no entity expansion), malformed input becomes a report whose
``error`` says why instead of an exception, and every string kept is cut to a fixed length.

Formats (reference §4.4.6, §4.4.8, §4.4.9):

* ``POST /machine?comp=health`` — ``<Health>`` XML echoing the goal state's incarnation,
  container id and role instance id, with ``<State>Ready</State>`` or ``NotReady`` plus
  ``<SubStatus>`` (``Provisioning``/``ProvisioningFailed``) and the agent's ``<Description>``;
* ``POST /provisioning/health`` — azure-init's JSON variant (``{"state": …, "details": …}``);
* ``PUT :32526/status`` — waagent's status blob, base64 inside a JSON envelope; its
  ``aggregateStatus.guestAgentStatus.status`` is what Azure shows as "VM agent: Ready".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import StrEnum

from harness.azure_emulator.identity import Identity

MAX_DESCRIPTION = 4096
"""waagent trims its description to 3686 characters before escaping; cloud-init to 512."""
MAX_FIELD = 256
MAX_DECODED_STATUS = 1 << 20

_DTD = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)


class HealthState(StrEnum):
    """The ``State`` of a health report."""

    READY = "Ready"
    NOT_READY = "NotReady"
    UNKNOWN = "unknown"
    """Missing, unparsable or not one of the two states Azure defines."""


PROVISIONING_FAILED = "ProvisioningFailed"


def bounded(text: str | None, limit: int = MAX_FIELD) -> str | None:
    """``text`` stripped and cut to ``limit`` characters (with a marker when cut)."""
    if text is None:
        return None
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[:limit] + f"…[{len(text) - limit} more characters]"


@dataclass(frozen=True)
class HealthReport:
    """One health report, as far as it could be parsed."""

    state: HealthState
    substatus: str | None = None
    description: str | None = None
    incarnation: str | None = None
    container_id: str | None = None
    instance_id: str | None = None
    wire_format: str = "xml"
    """``xml`` (WireServer) or ``json`` (azure-init)."""
    error: str | None = None
    """Why the body could not be read, when it could not."""

    @property
    def failed(self) -> bool:
        """``NotReady`` with ``ProvisioningFailed``: the agent gave up."""
        return self.state is HealthState.NOT_READY and self.substatus == PROVISIONING_FAILED

    def ids_match(self, identity: Identity) -> bool | None:
        """Whether the echoed ids are the goal state's; ``None`` when the format has none."""
        if self.wire_format == "json":
            return None
        return (
            self.incarnation == str(identity.incarnation)
            and self.container_id == str(identity.container_id)
            and self.instance_id == identity.role_instance_id
        )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _safe_xml(body: bytes) -> ET.Element | str:
    """The parsed root, or the reason it cannot be parsed."""
    if _DTD.search(body):
        return "XML with a document type declaration (refused)"
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        return f"malformed XML ({exc})"


def _texts(root: ET.Element) -> dict[str, str]:
    """First text of each element by local name (a health report has no repeated names)."""
    found: dict[str, str] = {}
    for element in root.iter():
        found.setdefault(_local(element.tag), element.text or "")
    return found


def _state(value: str | None) -> HealthState:
    value = (value or "").strip()
    for state in (HealthState.READY, HealthState.NOT_READY):
        if value == state.value:
            return state
    return HealthState.UNKNOWN


def parse_health_xml(body: bytes) -> HealthReport:
    """Read a WireServer ``<Health>`` report."""
    root = _safe_xml(body)
    if isinstance(root, str):
        return HealthReport(HealthState.UNKNOWN, error=root)
    if _local(root.tag) != "Health":
        return HealthReport(
            HealthState.UNKNOWN, error=f"root element is {bounded(_local(root.tag), 64)!r}"
        )
    texts = _texts(root)
    state = _state(texts.get("State"))
    return HealthReport(
        state=state,
        substatus=bounded(texts.get("SubStatus")),
        description=bounded(texts.get("Description"), MAX_DESCRIPTION),
        incarnation=bounded(texts.get("GoalStateIncarnation")),
        container_id=bounded(texts.get("ContainerId")),
        instance_id=bounded(texts.get("InstanceId")),
        error=None if state is not HealthState.UNKNOWN else "no Ready/NotReady State element",
    )


def _json(body: bytes) -> object:
    """Parsed JSON, or a ``str`` saying why not (deep nesting included)."""
    try:
        parsed: object = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return f"malformed JSON ({bounded(str(exc), 120)})"
    return parsed


def _get(node: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _text(node: object, limit: int = MAX_FIELD) -> str | None:
    return bounded(node, limit) if isinstance(node, str) else None


def parse_health_json(body: bytes) -> HealthReport:
    """Read azure-init's JSON report (``POST /provisioning/health``)."""
    parsed = _json(body)
    if isinstance(parsed, str):
        return HealthReport(HealthState.UNKNOWN, wire_format="json", error=parsed)
    state = _state(_text(_get(parsed, "state")))
    return HealthReport(
        state=state,
        substatus=_text(_get(parsed, "details", "subStatus")),
        description=_text(_get(parsed, "details", "description"), MAX_DESCRIPTION),
        wire_format="json",
        error=None if state is not HealthState.UNKNOWN else "no Ready/NotReady state",
    )


@dataclass(frozen=True)
class AgentStatus:
    """The VM agent's own status from one status-blob upload."""

    status: str | None
    version: str | None = None
    message: str | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.status == "Ready"


def parse_status_blob(blob: bytes) -> AgentStatus:
    """Read a status blob (the JSON waagent uploads) for ``guestAgentStatus``."""
    parsed = _json(blob)
    if isinstance(parsed, str):
        return AgentStatus(None, error=parsed)
    agent = _get(parsed, "aggregateStatus", "guestAgentStatus")
    if not isinstance(agent, dict):
        return AgentStatus(None, error="no aggregateStatus.guestAgentStatus in the status blob")
    return AgentStatus(
        status=_text(agent.get("status")),
        version=_text(agent.get("version")),
        message=_text(_get(agent, "formattedMessage", "message"), MAX_DESCRIPTION),
    )


def parse_status_upload(body: bytes) -> AgentStatus:
    """Read the HostGAPlugin ``PUT /status`` envelope (base64 blob in ``content``)."""
    envelope = _json(body)
    if isinstance(envelope, str):
        return AgentStatus(None, error=envelope)
    content = _get(envelope, "content")
    if not isinstance(content, str):
        return AgentStatus(None, error="no base64 'content' in the status upload")
    if len(content) > MAX_DECODED_STATUS * 4 // 3 + 4:
        return AgentStatus(None, error="status blob too large")
    try:
        blob = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return AgentStatus(None, error="status 'content' is not base64")
    return parse_status_blob(blob)
