"""Unit tests of the Azure provisioning emulator's pure pieces: identity, media, documents,
health parsing, IMDS, DHCP patching, the timeline and the request log."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from harness.azure_emulator.dhcp import (
    GATEWAY_ADDRESS,
    GUEST_ADDRESS,
    IMDS_ADDRESS,
    WIRESERVER_ADDRESS,
    Forward,
    netdev_value,
    parse_dhcp_reply,
    patch_dhcp_reply,
)
from harness.azure_emulator.errors import EmulatorError, IdentityError
from harness.azure_emulator.exchange import GuestRequest
from harness.azure_emulator.health import (
    HealthState,
    parse_health_json,
    parse_health_xml,
    parse_status_blob,
    parse_status_upload,
)
from harness.azure_emulator.hostgaplugin import HostGAPlugin
from harness.azure_emulator.identity import (
    AZURE_CHASSIS_ASSET_TAG,
    Identity,
    cpu_model,
    smbios_arguments,
    validate_mac,
)
from harness.azure_emulator.imds import Imds
from harness.azure_emulator.media import MEDIA_LABEL, build_media, cdrom_arguments, ovf_env_xml
from harness.azure_emulator.qemuopts import join_options
from harness.azure_emulator.requestlog import RequestLog, request_entry, text_of
from harness.azure_emulator.timeline import (
    MAX_EVENTS,
    MAX_HEALTH_REPORTS,
    Agent,
    Step,
    Timeline,
    agent_from_user_agent,
)
from harness.azure_emulator.wireserver import Advertised, WireServer, goal_state_xml

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdXrvnTfIyUcZk8Id9cTkgvHjbzeSxu2R2Q4cuQxd3T me@host"
WA = "{http://schemas.microsoft.com/windowsazure}"
OVF = "{http://schemas.dmtf.org/ovf/environment/1}"


@pytest.fixture
def identity() -> Identity:
    return Identity.new(KEY, mac="52:54:00:AB:cd:01")


def health_xml(identity: Identity, state: str, sub: str = "", description: str = "") -> bytes:
    details = ""
    if sub:
        details = f"<Details><SubStatus>{sub}</SubStatus>"
        details += f"<Description>{description}</Description></Details>"
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <GoalStateIncarnation>{identity.incarnation}</GoalStateIncarnation>
  <Container><ContainerId>{identity.container_id}</ContainerId>
    <RoleInstanceList><Role><InstanceId>{identity.role_instance_id}</InstanceId>
      <Health><State>{state}</State>{details}</Health></Role></RoleInstanceList>
  </Container>
</Health>""".encode()


# -- identity ----------------------------------------------------------------------------------


def test_identity_ids_are_fresh_per_run() -> None:
    first, second = Identity.new(KEY), Identity.new(KEY)
    assert first.vm_uuid != second.vm_uuid
    assert first.container_id != second.container_id
    assert first.role_instance_id != second.role_instance_id
    assert first.mac != second.mac and first.mac.startswith("52:54:00:")
    assert first.role_instance_id.endswith(".vmcert_IN_0")


def test_identity_normalises_mac_and_writes_it_for_imds(identity: Identity) -> None:
    assert identity.mac == "52:54:00:ab:cd:01"
    assert identity.mac_hex == "525400ABCD01"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "root"),
        ("username", "Azure User"),
        ("username", "a" * 40),
        ("hostname", "-bad"),
        ("hostname", "has space"),
        ("public_key", "ecdsa-sha2-nistp256 AAAA"),
        ("public_key", "ssh-ed25519"),
        ("public_key", "ssh-ed25519 AAAA\nssh-rsa BBBB"),
        ("mac", "01:00:5e:00:00:01"),  # multicast
        ("mac", "52:54:00:zz:00:01"),
    ],
)
def test_identity_refuses_values_azure_would_refuse(field: str, value: str) -> None:
    kwargs = {"public_key": KEY, field: value}
    public_key = kwargs.pop("public_key")
    with pytest.raises(IdentityError):
        Identity.new(public_key, **kwargs)


def test_smbios_arguments_carry_uuid_asset_tag_and_hyperv_version(identity: Identity) -> None:
    args = smbios_arguments(identity)
    assert args[:2] == ["-uuid", str(identity.vm_uuid)]
    tables = [args[i + 1] for i, arg in enumerate(args) if arg == "-smbios"]
    system = dict(part.split("=", 1) for part in tables[0].split(","))
    chassis = dict(part.split("=", 1) for part in tables[1].split(","))
    assert system["type"] == "1" and system["manufacturer"] == "Microsoft Corporation"
    assert system["product"] == "Virtual Machine"
    assert system["version"].startswith("Hyper-V")  # systemd-detect-virt's DMI match
    assert chassis == {
        "type": "3",
        "manufacturer": "Microsoft Corporation",
        "asset": AZURE_CHASSIS_ASSET_TAG,
    }


def test_cpu_model_hides_the_hypervisor_signature() -> None:
    assert cpu_model("tcg") == "max,tcg-cpuid=off"
    assert cpu_model("kvm") == "host,kvm=off"
    with pytest.raises(ValueError):
        cpu_model("hvf")


def test_qemu_option_values_cannot_inject_options() -> None:
    assert join_options("x", ("path", "/a,b=c")) == "x,path=/a,,b=c"


# -- media -------------------------------------------------------------------------------------


def test_ovf_env_parses_and_escapes(identity: Identity) -> None:
    hostile = Identity.new("ssh-ed25519 AAAAC3Nza <b>&amp;</b>", username="azure_u")
    root = ET.fromstring(ovf_env_xml(hostile, custom_data=b"#cloud-config\n"))
    config = root.find(f"{WA}ProvisioningSection/{WA}LinuxProvisioningConfigurationSet")
    assert config is not None
    assert config.findtext(f"{WA}UserName") == "azure_u"
    key = config.find(f"{WA}SSH/{WA}PublicKeys/{WA}PublicKey")
    assert key is not None
    assert key.findtext(f"{WA}Value") == "ssh-ed25519 AAAAC3Nza <b>&amp;</b>"
    assert key.findtext(f"{WA}Path") == "/home/azure_u/.ssh/authorized_keys"
    assert base64.b64decode(config.findtext(f"{WA}CustomData") or "") == b"#cloud-config\n"
    assert config.findtext(f"{WA}DisableSshPasswordAuthentication") == "true"
    assert config.find(f"{WA}UserPassword") is None
    platform = root.find(f"{WA}PlatformSettingsSection/{WA}PlatformSettings")
    assert platform is not None and platform.findtext(f"{WA}ProvisionGuestAgent") == "true"
    # azure-init matches the literal prefixed names
    text = ovf_env_xml(identity)
    assert "<wa:ProvisioningSection>" in text and "<wa:PlatformSettingsSection>" in text
    assert "<CustomData>" not in text


@pytest.mark.skipif(shutil.which("isoinfo") is None, reason="needs isoinfo (genisoimage)")
def test_media_is_a_udf_cd_with_azure_label(tmp_path: Path, identity: Identity) -> None:
    iso = build_media(tmp_path, identity, custom_data=b"hello")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["provisioning.iso"]  # no leftovers
    info = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True)
    assert f"Volume id: {MEDIA_LABEL}" in info.stdout
    data = iso.read_bytes()
    assert b"NSR02" in data[: 64 * 2048]  # UDF volume recognition sequence
    listing = subprocess.run(["isoinfo", "-f", "-i", str(iso)], capture_output=True, text=True)
    # Through ISO 9660 the name is mangled, as on Azure: a guest without UDF cannot find it.
    assert "/OVF_ENV.XML;1" in listing.stdout and "ovf-env.xml" not in listing.stdout
    assert b"<UserName>azureuser</UserName>" in data and b"hello" in data


def test_media_failure_is_one_clear_error(
    tmp_path: Path, identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(EmulatorError, match="genisoimage not found"):
        build_media(tmp_path, identity)
    assert not (tmp_path / "provisioning.iso").exists()


def test_cdrom_sits_on_virtio_scsi() -> None:
    args = cdrom_arguments(Path("/run,dir/p.iso"))
    assert "virtio-scsi-pci,id=vmcert-scsi0" in args
    assert any(a.startswith("scsi-cd,bus=vmcert-scsi0.0") for a in args)
    assert any("file=/run,,dir/p.iso" in a and "readonly=on" in a for a in args)


# -- WireServer --------------------------------------------------------------------------------


def get(
    service: WireServer | HostGAPlugin | Imds, target: str, **headers: str
) -> tuple[int, bytes]:
    handled = service.handle(
        GuestRequest("GET", target, {k.lower(): v for k, v in headers.items()})
    )
    return handled.response.status, handled.response.body


def test_goal_state_shape_and_urls(identity: Identity) -> None:
    root = ET.fromstring(goal_state_xml(identity, Advertised()))
    assert root.tag == "GoalState"  # no default namespace: cloud-init's paths are unqualified
    assert root.findtext("Incarnation") == "1"
    assert root.findtext("Container/ContainerId") == str(identity.container_id)
    instance = root.find("Container/RoleInstanceList/RoleInstance")
    assert instance is not None and instance.findtext("InstanceId") == identity.role_instance_id
    urls = [el.text or "" for el in instance.find("Configuration") or []]
    assert all(u.startswith("http://168.63.129.16:80/machine/") for u in urls if "://" in u)
    assert instance.find("Configuration/Certificates") is None


def test_wireserver_serves_every_document_it_links(identity: Identity) -> None:
    server = WireServer(identity)
    status, body = get(server, "/?comp=versions")
    versions = ET.fromstring(body)
    assert status == 200 and "2012-11-30" in [v.text for v in versions.iter("Version")]
    for target in ("/machine/?comp=goalstate", "/machine?comp=goalstate"):
        assert get(server, target)[0] == 200
    root = ET.fromstring(get(server, "/machine/?comp=goalstate")[1])
    config = root.find("Container/RoleInstanceList/RoleInstance/Configuration")
    assert config is not None
    for name in ("HostingEnvironmentConfig", "SharedConfig", "ExtensionsConfig"):
        url = config.findtext(name) or ""
        status, body = get(server, url)  # absolute form, as a proxy-aware client sends it
        assert status == 200, name
        ET.fromstring(body)
    shared = ET.fromstring(get(server, config.findtext("SharedConfig") or "")[1])
    assert shared.find("Instances/Instance/InputEndpoints") is not None  # Afterburn needs it
    ext = ET.fromstring(get(server, config.findtext("ExtensionsConfig") or "")[1])
    assert (ext.findtext("StatusUploadBlob") or "").startswith("http://168.63.129.16:80/")
    assert get(server, "/machine/other/role?comp=config&type=sharedConfig")[0] == 404


def test_health_reports_are_parsed_and_checked_against_the_goal_state(identity: Identity) -> None:
    server = WireServer(identity)

    def post(target: str, body: bytes) -> tuple[int, Step, HealthState | None, bool | None]:
        handled = server.handle(GuestRequest("POST", target, {}, body, len(body)))
        state = handled.health.state if handled.health else None
        return handled.response.status, handled.step, state, handled.ids_match

    assert post("/machine?comp=health", health_xml(identity, "Ready")) == (
        200,
        Step.HEALTH,
        HealthState.READY,
        True,
    )
    assert post("/machine/?comp=health", health_xml(identity, "Ready"))[3] is True
    stale = Identity.new(KEY)
    assert post("/machine?comp=health", health_xml(stale, "Ready"))[3] is False
    assert post("/provisioning/health", b'{"state":"Ready"}')[2:] == (HealthState.READY, None)
    failed = health_xml(identity, "NotReady", "ProvisioningFailed", "no &lt;user&gt;")
    report = parse_health_xml(failed)
    assert report.failed and report.description == "no <user>"
    assert post("/machine?comp=roleProperties", b"<x/>")[0] == 202
    assert post("/machine?comp=telemetrydata", b"<x/>")[0] == 200
    assert post("/machine?comp=health", b"not xml")[:3] == (400, Step.HEALTH, HealthState.UNKNOWN)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Health>",
        b"\xff\xfe\x00<",
        b"<Other><State>Ready</State></Other>",
        b"<Health><State>Done</State></Health>",
        b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><Health>&b;</Health>',
        b"<Health>" + b"<a>" * 20000 + b"</a>" * 20000 + b"</Health>",
    ],
)
def test_malformed_health_reports_never_raise(body: bytes) -> None:
    report = parse_health_xml(body)
    assert report.state is HealthState.UNKNOWN and report.error
    assert not report.failed


def test_health_strings_are_bounded() -> None:
    description = ("é" * 10000).encode()
    body = b"<Health><State>NotReady</State><SubStatus>" + b"x" * 5000
    body += b"</SubStatus><Description>" + description + b"</Description></Health>"
    report = parse_health_xml(body)
    assert report.state is HealthState.NOT_READY
    assert report.substatus is not None and len(report.substatus) < 400
    assert report.description is not None and len(report.description) < 4200


def test_json_health_and_status_blobs_survive_hostile_json() -> None:
    deep = b"[" * 100000 + b"]" * 100000
    assert parse_health_json(deep).error
    assert parse_health_json(b'{"state": 5}').state is HealthState.UNKNOWN
    failed = parse_health_json(
        b'{"state":"NotReady","details":{"subStatus":"ProvisioningFailed","description":"d"}}'
    )
    assert failed.failed and failed.description == "d"
    assert parse_status_blob(deep).error
    assert parse_status_upload(b'{"content": "!!!"}').error
    assert parse_status_upload(b"[]").error
    blob = {"aggregateStatus": {"guestAgentStatus": {"status": "Ready", "version": "2.7"}}}
    upload = {"content": base64.b64encode(json.dumps(blob).encode()).decode()}
    status = parse_status_upload(json.dumps(upload).encode())
    assert status.ready and status.version == "2.7"


def test_truncated_bodies_are_refused_not_parsed(identity: Identity) -> None:
    body = health_xml(identity, "Ready")
    handled = WireServer(identity).handle(
        GuestRequest("POST", "/machine?comp=health", {}, body, len(body) + 1)
    )
    assert handled.response.status == 413 and handled.health is None


# -- HostGAPlugin and IMDS -----------------------------------------------------------------------


def test_hostgaplugin_answers_what_waagent_needs() -> None:
    plugin = HostGAPlugin()
    assert get(plugin, "/vmSettings")[0] == 404  # "no FastTrack": waagent uses the goal state
    assert get(plugin, "/versions") == (200, b'["2015-09-01"]')
    assert get(plugin, "/health")[0] == 200
    blob = base64.b64encode(b'{"aggregateStatus":{"guestAgentStatus":{"status":"Ready"}}}')
    body = b'{"content":"' + blob + b'"}'
    handled = plugin.handle(GuestRequest("PUT", "/status", {}, body, len(body)))
    assert handled.step is Step.AGENT_STATUS and handled.status and handled.status.ready


def test_imds_requires_the_metadata_header_and_an_api_version(identity: Identity) -> None:
    imds = Imds(identity)
    target = "/metadata/instance?api-version=2021-08-01&extended=true"
    assert get(imds, target)[0] == 400
    assert get(imds, target, Metadata="false")[0] == 400
    assert get(imds, "/metadata/instance", Metadata="true")[0] == 400
    status, body = get(imds, target, Metadata="true")
    document = json.loads(body)
    assert status == 200
    assert document["compute"]["vmId"] == str(identity.vm_uuid)
    assert document["compute"]["osProfile"]["disablePasswordAuthentication"] == "true"
    assert document["compute"]["publicKeys"][0]["keyData"] == KEY
    nic = document["network"]["interface"][0]
    assert nic["macAddress"] == "525400ABCD01"
    assert nic["ipv4"]["ipAddress"][0]["privateIpAddress"] == str(GUEST_ADDRESS)
    assert document["extended"]["compute"]["ppsType"] == "None"


def test_imds_walks_paths_and_answers_text(identity: Identity) -> None:
    imds = Imds(identity)
    h = {"Metadata": "true"}
    assert get(
        imds, "/metadata/instance/compute/osProfile/adminUsername?api-version=1&format=text", **h
    ) == (
        200,
        b"azureuser",
    )
    assert get(imds, "/metadata/instance/network/interface/0/macAddress?api-version=1", **h) == (
        200,
        b'"525400ABCD01"',
    )
    assert get(imds, "/metadata/instance/compute/userData?api-version=1&format=text", **h) == (
        200,
        b"",
    )  # Ignition retries a 404 forever
    assert get(imds, "/metadata/instance/compute/nope?api-version=1", **h)[0] == 404
    assert get(imds, "/metadata/instance/network/interface/9?api-version=1", **h)[0] == 404
    assert get(imds, "/metadata/versions", **h)[0] == 200
    assert get(imds, "/metadata/reprovisiondata?api-version=1", **h)[0] == 404


# -- DHCP ----------------------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def slirp_reply(
    message_type: int, *, restricted: bool = True, server_id: bool = True, extra: bytes = b""
) -> bytes:
    """A DHCP reply laid out like libslirp's bootp.c: a fixed 548-byte BOOTP payload.

    With ``restrict=on`` (what vmcert runs) slirp sends neither a router nor a DNS server.
    """
    options = bytes([53, 1, message_type])
    if server_id:
        options += bytes([54, 4]) + GATEWAY_ADDRESS.packed
    options += bytes([1, 4, 254, 0, 0, 0])
    if not restricted:
        options += bytes([3, 4]) + GATEWAY_ADDRESS.packed + bytes([6, 4, 168, 0, 2, 3])
    options += bytes([51, 4, 0, 1, 0x51, 0x80]) + extra + bytes([255])
    bootp = bytes([2, 1, 6, 0]) + b"\x12\x34\x56\x78" + b"\0" * 8
    bootp += GUEST_ADDRESS.packed + IPv4Address("168.0.2.2").packed + b"\0" * 4
    bootp += bytes.fromhex("525400abcd01") + b"\0" * 10 + b"\0" * 192
    bootp += b"\x63\x82\x53\x63" + options
    bootp = bootp.ljust(548, b"\0")
    src, dst = IPv4Address("168.0.2.2").packed, IPv4Address("255.255.255.255").packed
    udp = struct.pack("!HHHH", 67, 68, 8 + len(bootp), 0) + bootp
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp)) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = b"\xff" * 6 + bytes.fromhex("5255a8000202") + b"\x08\x00"
    return eth + ip + udp


def test_dhcp_offer_and_ack_gain_options_245_and_121() -> None:
    for kind, restricted in ((2, True), (5, True), (2, False), (5, False)):
        frame = slirp_reply(kind, restricted=restricted)
        patched = patch_dhcp_reply(frame)
        assert patched is not None and len(patched) == len(frame)
        assert patched[:34] == frame[:34]  # Ethernet and IPv4 headers unchanged
        udp = patched[34:]
        pseudo = patched[26:34] + struct.pack("!BBH", 0, 17, len(udp))
        assert checksum(pseudo + udp) == 0  # the recomputed UDP checksum verifies
        options = patched[34 + 8 + 240 :]
        wireserver = bytes([245, 4]) + WIRESERVER_ADDRESS.packed
        assert wireserver in options
        gw = GATEWAY_ADDRESS.packed
        routes = bytes([32, *WIRESERVER_ADDRESS.packed, *gw, 32, *IMDS_ADDRESS.packed, *gw, 0, *gw])
        assert bytes([121, len(routes)]) + routes in options
        reply = parse_dhcp_reply(patched)
        assert reply is not None and reply.has_wireserver
        assert patch_dhcp_reply(patched) is None  # idempotent


def test_other_frames_pass_untouched() -> None:
    assert patch_dhcp_reply(slirp_reply(6)) is None  # NAK
    assert patch_dhcp_reply(slirp_reply(2, server_id=False)) is None  # no gateway known
    assert patch_dhcp_reply(slirp_reply(2, extra=bytes([245, 4, 1, 2, 3, 4]))) is None
    frame = slirp_reply(2)
    assert patch_dhcp_reply(frame[:-400]) is None  # truncated
    assert patch_dhcp_reply(b"\0" * 60) is None
    assert patch_dhcp_reply(frame[:12] + b"\x86\xdd" + frame[14:]) is None  # IPv6
    ports_swapped = frame[:34] + struct.pack("!HH", 68, 67) + frame[38:]
    assert patch_dhcp_reply(ports_swapped) is None  # client → server
    no_room = slirp_reply(2, extra=bytes([12, 250]) + b"h" * 250 + bytes([15, 20]) + b"d" * 20)
    assert patch_dhcp_reply(no_room) is None


def test_netdev_keeps_restrict_and_quotes_the_relay() -> None:
    value = netdev_value(
        "n0",
        [Forward(WIRESERVER_ADDRESS, 80, 4001), Forward(IMDS_ADDRESS, 80, 4003)],
        relay_host="127.0.0.1",
        hostfwd=["tcp:127.0.0.1:2222-:22"],
    )
    assert value.startswith("user,id=n0,net=168.0.0.0/7,restrict=on,")
    assert "hostfwd=tcp:127.0.0.1:2222-:22" in value
    assert "guestfwd=tcp:168.63.129.16:80-cmd:" in value and value.endswith(" 127.0.0.1 4003")
    assert " -I -S " in value and "relay.py" in value


# -- timeline and request log --------------------------------------------------------------------


def test_agent_attribution() -> None:
    assert agent_from_user_agent("Cloud-Init/22.4.2") is Agent.CLOUD_INIT
    assert agent_from_user_agent("WALinuxAgent/2.7.3.0") is Agent.WAAGENT
    assert agent_from_user_agent("azure-init v0.1.1") is Agent.AZURE_INIT
    assert agent_from_user_agent("curl/8") is Agent.UNKNOWN


def test_timeline_verdict_uses_first_matching_ready(identity: Identity) -> None:
    clock = iter(float(n) for n in range(100, 200))
    timeline = Timeline(clock=lambda: next(clock))
    ready = parse_health_xml(health_xml(identity, "Ready"))
    failed = parse_health_xml(health_xml(identity, "NotReady", "ProvisioningFailed", "d"))
    timeline.record(Step.IMDS, Agent.CLOUD_INIT, "/metadata/instance")
    timeline.record(Step.GOAL_STATE, Agent.CLOUD_INIT)
    timeline.record(Step.HEALTH, Agent.CLOUD_INIT, health=ready, ids_match=False)
    timeline.record(Step.HEALTH, Agent.WAAGENT, health=failed, ids_match=True)
    timeline.record(Step.HEALTH, Agent.WAAGENT, health=ready, ids_match=True)
    timeline.media_ejected()
    state = timeline.snapshot(origin=100.0)
    assert state.requests == 5 and state.imds_calls == 1
    assert state.first_request is not None and state.first_request.at == 0.0
    assert state.goal_state_fetched is not None and state.goal_state_fetched.at == 1.0
    assert state.ready is not None and state.ready.agent is Agent.WAAGENT and state.ready.at == 4.0
    assert state.failure is not None and state.failure.at == 3.0
    assert state.media_ejected_at == 5.0


def test_timeline_memory_is_bounded_whatever_the_guest_sends() -> None:
    timeline = Timeline()
    report = parse_health_xml(b"<Health><State>NotReady</State></Health>")
    for n in range(5000):
        timeline.record(Step.AGENT_STATUS, Agent.WAAGENT, str(n))
        timeline.record(Step.UNKNOWN, Agent.UNKNOWN, str(n))
        timeline.record(Step.HEALTH, Agent.UNKNOWN, health=report)
    state = timeline.snapshot()
    assert state.requests == 15000 and state.counts[Step.HEALTH] == 5000
    assert len(state.health) == MAX_HEALTH_REPORTS and len(state.events) <= MAX_EVENTS
    assert state.dropped_events > 0


def test_request_log_lines_are_valid_ascii_json_with_bounded_text(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "log.jsonl")
    body = b"\xff\xfe\x1b[31m" + b"A" * 100000
    request = GuestRequest(
        "POST",
        "/machine?comp=health&\udcff" + "x" * 10000,
        {"user-agent": "\x1b]0;pwned\x07" * 500, "x-ms-thing": "v", "cookie": "secret"},
        body[:4096],
        len(body),
    )
    handled = WireServer(Identity.new(KEY)).handle(request)
    log.write(
        request_entry(
            at=1.0,
            wall=2.0,
            service="wireserver",
            agent=Agent.UNKNOWN,
            request=request,
            handled=handled,
        )
    )
    log.close()
    raw = (tmp_path / "log.jsonl").read_bytes()
    assert raw.isascii() and b"\x1b" not in raw
    entry = json.loads(raw.splitlines()[0])
    assert entry["body_bytes"] == len(body) and entry["status"] == 413
    assert entry["body"].startswith("\\xff\\xfe\x1b[31m")  # escaped, not decoded
    assert len(entry["body"]) < 2200 and len(entry["target"]) < 2100
    assert len(entry["headers"]["user-agent"]) < 600
    assert "cookie" not in entry["headers"]
    assert len(raw) < 8000


def test_request_log_stops_at_its_cap(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "log.jsonl", max_bytes=1000)
    for n in range(100):
        log.write({"n": n, "pad": "x" * 50})
    log.close()
    log.close()
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert sum(len(line) + 1 for line in lines[:-1]) <= 1000
    assert json.loads(lines[-1]) == {"truncated": True, "entries_not_logged": log.dropped}
    assert log.dropped + log.written == 100


def test_text_of_marks_what_was_cut() -> None:
    assert text_of(b"abc", 10) == "abc"
    assert text_of(b"\xc3", 10) == "\\xc3"
    assert text_of("x" * 20, 5) == "xxxxx…[20 characters in all]"


def test_validate_mac_accepts_dashes() -> None:
    assert validate_mac("52-54-00-01-02-03") == "52:54:00:01:02:03"


# -- diagnosis -----------------------------------------------------------------------------------


def fed_timeline(identity: Identity, *steps: tuple[Step, Agent, bytes | None]) -> Timeline:
    clock = iter(float(n) for n in range(1000))
    timeline = Timeline(clock=lambda: next(clock))
    for step, agent, body in steps:
        if body is None:
            timeline.record(step, agent)
            continue
        report = parse_health_xml(body)
        timeline.record(step, agent, health=report, ids_match=report.ids_match(identity))
    return timeline


def test_diagnosis_names_agent_source_and_failure(identity: Identity) -> None:
    from harness.azure_emulator.diagnosis import Outcome, Source, diagnose, timeline_lines

    empty = Timeline().snapshot()
    assert diagnose(empty, final=False).outcome is Outcome.WAITING
    nothing = diagnose(empty, final=True)
    assert nothing.outcome is Outcome.NO_REQUEST and "never contacted" in nothing.message

    stuck = fed_timeline(identity, (Step.GOAL_STATE, Agent.WAAGENT, None)).snapshot(0.0)
    found = diagnose(stuck, final=True)
    assert found.outcome is Outcome.NO_HEALTH_REPORT and found.agent is Agent.WAAGENT

    failed_body = health_xml(identity, "NotReady", "ProvisioningFailed", "useradd failed")
    failed = fed_timeline(
        identity,
        (Step.IMDS, Agent.CLOUD_INIT, None),
        (Step.GOAL_STATE, Agent.CLOUD_INIT, None),
        (Step.HEALTH, Agent.CLOUD_INIT, failed_body),
    ).snapshot(0.0)
    verdict = diagnose(failed, final=False)  # a failure is final at once: no need to wait
    assert verdict.outcome is Outcome.FAILED and "useradd failed" in verdict.message

    ready = fed_timeline(
        identity,
        (Step.IMDS, Agent.CLOUD_INIT, None),
        (Step.HEALTH, Agent.CLOUD_INIT, health_xml(identity, "Ready")),
    )
    from_imds = diagnose(ready.snapshot(0.0), final=False)
    assert from_imds.outcome is Outcome.PROVISIONED and from_imds.source is Source.IMDS
    assert "without the provisioning media being seen read" in from_imds.message
    ready.media_ejected()
    assert diagnose(ready.snapshot(0.0), final=False).source is Source.MEDIA
    lines = timeline_lines(ready.snapshot(0.0))
    assert "cloud-init" in lines[1] and lines[1].endswith("health report: Ready")
    assert "provisioning media ejected" in lines[2]

    stale = fed_timeline(
        identity, (Step.HEALTH, Agent.WAAGENT, health_xml(Identity.new(KEY), "Ready"))
    ).snapshot(0.0)
    assert diagnose(stale, final=True).outcome is Outcome.IDS_MISMATCH


def test_gave_up_spots_a_guest_that_will_never_report(identity: Identity) -> None:
    from harness.azure_emulator.diagnosis import gave_up

    def at(*lines: str) -> list[tuple[float, str]]:
        return [(10.0 + n, line) for n, line in enumerate(lines)]

    quiet = Timeline().snapshot()
    assert gave_up(quiet, at("[  8.1] cloud-init[300]: running modules"), 60.0) is None
    fallback = at(
        "[ 40.2] cloud-init[493]: Cloud-init v. 22.4.2 finished at Tue, 01 Dec 2026 17:37:07 "
        "+0000. Datasource DataSourceNone.  Up 40.12 seconds"
    )
    reason = gave_up(quiet, fallback, 60.0)
    assert reason is not None and "DataSourceNone instead of the Azure datasource" in reason
    crash = at(
        "Traceback (most recent call last):",
        '  File "/usr/lib/python3/dist-packages/azurelinuxagent/pa/provision/default.py", line 9',
        "FileNotFoundError: [Errno 2] No such file or directory: 'eject'",
    )
    crashed = gave_up(quiet, crash, 60.0)
    assert crashed is not None and "waagent crashed" in crashed
    # the exception that ended the traceback is the diagnosis
    assert "(FileNotFoundError: [Errno 2] No such file or directory: 'eject')" in crashed
    no_cause = gave_up(quiet, crash[:2], 60.0)
    assert no_cause is not None and "crashed before contacting the WireServer:" in no_cause
    busy = fed_timeline(identity, (Step.GOAL_STATE, Agent.WAAGENT, None)).snapshot(0.0)
    assert gave_up(busy, crash, 60.0) is None  # a logged traceback after requests is not a crash
    ready = fed_timeline(
        identity, (Step.HEALTH, Agent.CLOUD_INIT, health_xml(identity, "Ready"))
    ).snapshot(0.0)
    assert gave_up(ready, fallback + crash, 60.0) is None
    azure_done = [
        (10.0, fallback[0][1].replace("DataSourceNone.", "DataSourceAzure [seed=/dev/sr0]."))
    ]
    assert gave_up(quiet, azure_done, 60.0) is None
    failed = fed_timeline(
        identity,
        (
            Step.HEALTH,
            Agent.CLOUD_INIT,
            health_xml(identity, "NotReady", "ProvisioningFailed", "x"),
        ),
    ).snapshot(0.0)
    assert "ProvisioningFailed: x" in (gave_up(failed, [], 60.0) or "")
    booted = at("Debian GNU/Linux 12 vmcert ttyS0", "", "vmcert login: ")
    assert gave_up(quiet, booted, 100.0) is None  # agents get time to start after the prompt
    silent = gave_up(quiet, booted, 300.0)
    assert silent is not None and "login prompt at 12 s" in silent
    assert gave_up(busy, booted, 300.0) is None  # someone asked: the other rules decide
    assert gave_up(quiet, at("Last login: Tue Dec  1"), 900.0) is None


def test_cloud_init_silent_at_login_tells_a_guest_without_cloud_init() -> None:
    from harness.azure_emulator.diagnosis import cloud_init_silent_at_login

    def at(*lines: str) -> list[tuple[float, str]]:
        return [(10.0 + n, line) for n, line in enumerate(lines)]

    banner = "[   48.29] cloud-init[328]: Cloud-init v. 22.4.2 running 'init-local' at Tue, 01 Dec"
    prompt = "localhost login: [   58.648129] kvm: Nested Virtualization enabled"
    waagent = (
        "2026-12-01T22:47:47.89Z INFO Daemon Unable to get cloud-init enabled status from systemctl"
    )
    assert cloud_init_silent_at_login(at(banner, prompt)) is None  # cloud-init ran first
    assert cloud_init_silent_at_login(at("Booting", "[  3.2] systemd[1]: Started")) is None
    # waagent mentions cloud-init; only cloud-init's own banner counts
    assert cloud_init_silent_at_login(at("Booting", waagent, prompt)) == 12.0
    assert cloud_init_silent_at_login(at(prompt, banner)) == 10.0
