"""The HostGAPlugin (168.63.129.16:32526): what waagent calls besides the WireServer.

waagent's protocol detection fails outright when nothing answers on this port, so it must exist
even though only a few answers matter (reference §4.3, §4.6):

* ``GET /vmSettings`` → 404, which waagent reads as "no FastTrack" and then uses the WireServer's
  goal state (it checks again only every 6 hours);
* ``GET /versions`` and ``GET /health`` → 200;
* ``PUT /status`` → 200; its body carries the VM agent's status blob (``Ready`` is what Azure
  shows as "VM agent: Ready");
* ``PUT /vmAgentLog`` → 200 (log archives are counted, not kept); ``GET /extensionArtifact``
  → 404 (no extensions).
"""

from __future__ import annotations

from harness.azure_emulator.exchange import GuestRequest, Handled, Response
from harness.azure_emulator.health import parse_status_upload
from harness.azure_emulator.timeline import Step

SUPPORTED_VERSIONS = ["2015-09-01"]


class HostGAPlugin:
    """Answers the HostGAPlugin's requests."""

    name = "hostgaplugin"

    def handle(self, request: GuestRequest) -> Handled:
        path, method = request.path, request.method
        if method in ("GET", "HEAD"):
            if path == "/vmSettings":
                return Handled(Response.empty(404), Step.HOST_PLUGIN, "vmSettings (not supported)")
            if path == "/versions":
                return Handled(Response.json(SUPPORTED_VERSIONS), Step.HOST_PLUGIN, "versions")
            if path == "/health":
                return Handled(Response.empty(200), Step.HOST_PLUGIN, "health")
            if path == "/extensionArtifact":
                return Handled(Response.empty(404), Step.HOST_PLUGIN, "extension artifact")
        if method in ("PUT", "POST"):
            if path == "/status":
                if request.body_truncated:
                    return Handled(Response.empty(413), Step.REJECTED, "status upload too large")
                status = parse_status_upload(request.body)
                return Handled(Response.empty(200), Step.AGENT_STATUS, "status", status=status)
            if path == "/vmAgentLog":
                return Handled(Response.empty(200), Step.HOST_PLUGIN, "agent log")
        return Handled(Response.empty(404), Step.UNKNOWN)
