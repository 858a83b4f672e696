"""The WireServer (168.63.129.16:80): goal state, configuration documents, health reports.

Documents follow reference §4.4; only what the agents read is filled in:

* ``GET /?comp=versions`` — waagent requires ``2012-11-30`` as preferred or supported, Afterburn
  among the supported ones;
* ``GET /machine/?comp=goalstate`` — root ``GoalState`` without a default namespace (cloud-init's
  ElementTree paths are unqualified); incarnation, container id and role instance id, which the
  health report must echo, and absolute URLs of the configuration documents at the address the
  guest uses (never the host's 127.0.0.1);
* the HostingEnvironmentConfig and SharedConfig documents waagent requires, and an
  ExtensionsConfig without extensions but with a ``StatusUploadBlob`` (without it waagent's
  extension handler never reports VM-agent status);
* ``POST /machine?comp=health`` (with or without the slash) and azure-init's
  ``POST /provisioning/health``: the provisioning verdict; telemetry, role properties and
  ``/HealthService`` are acknowledged; ``PUT`` of the status blob is parsed like the
  HostGAPlugin's status upload.

No ``Certificates`` URL is served: the provisioned key is given by value in ``ovf-env.xml`` and
in IMDS, which both agents use without certificates.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from harness.azure_emulator.dhcp import WIRESERVER_ADDRESS
from harness.azure_emulator.exchange import GuestRequest, Handled, Response
from harness.azure_emulator.health import (
    parse_health_json,
    parse_health_xml,
    parse_status_blob,
)
from harness.azure_emulator.identity import ROLE_NAME, Identity
from harness.azure_emulator.timeline import Step

PROTOCOL_VERSION = "2012-11-30"
STATUS_BLOB_PATH = "/vmcert-status-blob"
CONFIG_TYPES = ("hostingEnvironmentConfig", "sharedConfig", "extensionsConfig")


def versions_xml() -> str:
    """The versions document: Azure's preferred ``2015-04-05`` and the supported list."""
    return """<?xml version="1.0" encoding="utf-8"?>
<Versions>
  <Preferred>
    <Version>2015-04-05</Version>
  </Preferred>
  <Supported>
    <Version>2015-04-05</Version>
    <Version>2012-11-30</Version>
    <Version>2010-12-15</Version>
  </Supported>
</Versions>
"""


@dataclass(frozen=True)
class Advertised:
    """Where the guest reaches the WireServer (the host in the goal state's URLs)."""

    host: str = str(WIRESERVER_ADDRESS)
    port: int = 80

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


def _config_url(identity: Identity, where: Advertised, kind: str) -> str:
    return (
        f"{where.base}/machine/{identity.container_id}/{identity.role_instance_id}"
        f"?comp=config&type={kind}&incarnation={identity.incarnation}"
    )


def goal_state_xml(identity: Identity, where: Advertised) -> str:
    """The goal state for ``identity``; its URLs point at ``where``."""
    urls = {kind: escape(_config_url(identity, where, kind)) for kind in CONFIG_TYPES}
    full = escape(_config_url(identity, where, "fullConfig"))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:noNamespaceSchemaLocation="goalstate10.xsd">
  <Version>{PROTOCOL_VERSION}</Version>
  <Incarnation>{identity.incarnation}</Incarnation>
  <Machine>
    <ExpectedState>Started</ExpectedState>
    <StopRolesDeadlineHint>300000</StopRolesDeadlineHint>
    <LBProbePorts>
      <Port>16001</Port>
    </LBProbePorts>
    <ExpectHealthReport>FALSE</ExpectHealthReport>
  </Machine>
  <Container>
    <ContainerId>{identity.container_id}</ContainerId>
    <RoleInstanceList>
      <RoleInstance>
        <InstanceId>{escape(identity.role_instance_id)}</InstanceId>
        <State>Started</State>
        <Configuration>
          <HostingEnvironmentConfig>{urls["hostingEnvironmentConfig"]}</HostingEnvironmentConfig>
          <SharedConfig>{urls["sharedConfig"]}</SharedConfig>
          <ExtensionsConfig>{urls["extensionsConfig"]}</ExtensionsConfig>
          <FullConfig>{full}</FullConfig>
          <ConfigName>{escape(identity.config_name)}</ConfigName>
        </Configuration>
      </RoleInstance>
    </RoleInstanceList>
  </Container>
</GoalState>
"""


def _deployment_lines(identity: Identity) -> str:
    instance = quoteattr(identity.role_instance_name)
    return f"""  <Deployment name={quoteattr(identity.deployment_id)} \
guid={quoteattr("{" + str(identity.container_id) + "}")} incarnation="0" />
  <Incarnation number="{identity.incarnation}" instance={instance} \
guid={quoteattr("{" + str(identity.vm_uuid) + "}")} />
  <Role guid={quoteattr("{" + str(identity.role_guid) + "}")} name={quoteattr(ROLE_NAME)} \
settleTimeSeconds="0" />"""


def hosting_environment_xml(identity: Identity) -> str:
    """HostingEnvironmentConfig: waagent reads the VM (instance), role and deployment names."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<HostingEnvironmentConfig version="1.0.0.0" goalStateIncarnation="{identity.incarnation}">
{_deployment_lines(identity)}
</HostingEnvironmentConfig>
"""


def shared_config_xml(identity: Identity) -> str:
    """SharedConfig, with the ``Instances``/``InputEndpoints`` Afterburn requires."""
    instance = quoteattr(identity.role_instance_name)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<SharedConfig version="1.0.0.0" goalStateIncarnation="{identity.incarnation}">
{_deployment_lines(identity)}
  <Instances>
    <Instance id={instance} address="10.0.0.4">
      <InputEndpoints />
    </Instance>
  </Instances>
</SharedConfig>
"""


def extensions_config_xml(identity: Identity, where: Advertised) -> str:
    """ExtensionsConfig: no extensions, no agent manifests, a status upload blob."""
    blob = escape(f"{where.base}{STATUS_BLOB_PATH}")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="{identity.incarnation}">
  <GuestAgentExtension xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
    <GAFamilies />
  </GuestAgentExtension>
  <Plugins />
  <PluginSettings />
  <StatusUploadBlob statusBlobType="BlockBlob">{blob}</StatusUploadBlob>
  <InVMGoalStateMetaData inSvdSeqNo="{identity.incarnation}" \
createdOnTicks="638000000000000000" activityId="{identity.vm_uuid}" \
correlationId="{identity.container_id}" />
</Extensions>
"""


class WireServer:
    """Answers the WireServer's requests for one identity."""

    name = "wireserver"

    def __init__(self, identity: Identity, advertised: Advertised | None = None) -> None:
        self.identity = identity
        self.advertised = advertised or Advertised()

    def _role_path(self) -> str:
        return f"/machine/{self.identity.container_id}/{self.identity.role_instance_id}"

    def handle(self, request: GuestRequest) -> Handled:
        if request.method in ("GET", "HEAD"):
            return self._get(request)
        if request.method == "POST":
            return self._post(request)
        if request.method == "PUT":
            return self._put(request)
        return Handled(Response.empty(405), Step.REJECTED, f"method {request.method}")

    def _get(self, request: GuestRequest) -> Handled:
        path, query = request.path, request.query
        comp = query.get("comp", "")
        if path == "/" and comp == "versions":
            return Handled(Response.xml(versions_xml()), Step.VERSIONS)
        if path in ("/machine", "/machine/") and comp == "goalstate":
            return Handled(
                Response.xml(goal_state_xml(self.identity, self.advertised)), Step.GOAL_STATE
            )
        if path == self._role_path() and comp == "config":
            kind = query.get("type", "")
            document = {
                "hostingEnvironmentConfig": lambda: hosting_environment_xml(self.identity),
                "sharedConfig": lambda: shared_config_xml(self.identity),
                "extensionsConfig": lambda: extensions_config_xml(self.identity, self.advertised),
            }.get(kind)
            if document is not None:
                return Handled(Response.xml(document()), Step.CONFIG, kind)
        if comp == "certificates":
            return Handled(Response.empty(404), Step.CERTIFICATES, "none served")
        return Handled(Response.empty(404), Step.UNKNOWN)

    def _post(self, request: GuestRequest) -> Handled:
        path, comp = request.path, request.query.get("comp", "")
        on_machine = path in ("/machine", "/machine/")
        if (on_machine and comp == "health") or path == "/provisioning/health":
            if request.body_truncated:
                return Handled(Response.empty(413), Step.REJECTED, "health report too large")
            json_format = path == "/provisioning/health"
            parse = parse_health_json if json_format else parse_health_xml
            report = parse(request.body)
            status = 400 if report.error else 200
            return Handled(
                Response.empty(status),
                Step.HEALTH,
                report.state.value,
                health=report,
                ids_match=report.ids_match(self.identity),
            )
        if on_machine and comp == "roleProperties":
            return Handled(Response.empty(202), Step.ROLE_PROPERTIES)
        if on_machine and comp == "telemetrydata":
            return Handled(Response.empty(200), Step.TELEMETRY)
        if path == "/HealthService":
            return Handled(Response.empty(200), Step.HEALTH_SERVICE)
        return Handled(Response.empty(404), Step.UNKNOWN)

    def _put(self, request: GuestRequest) -> Handled:
        if request.path != STATUS_BLOB_PATH:
            return Handled(Response.empty(404), Step.UNKNOWN)
        if request.body_truncated:
            return Handled(Response.empty(413), Step.REJECTED, "status blob too large")
        status = parse_status_blob(request.body)
        return Handled(Response.empty(201), Step.AGENT_STATUS, "blob", status=status)
