"""The emulator's documents and endpoints judged by the agents' own code.

cloud-init 22.4.2 and waagent 2.7.3 are the versions the reference's end-to-end run used
(Debian 12's packages). Their Python sources are fetched once with ``apt-get download``, unpacked
into the user cache (never installed), and imported in a subprocess so that their global state
(loggers, configuration) stays out of the test process. Each test hands the agent what the
emulator serves and asserts what the agent made of it:

* cloud-init: ``read_azure_ovf`` on ``ovf-env.xml``; ``get_metadata_from_fabric`` (goal state,
  Health Ready) and ``report_failure_to_fabric`` against the running WireServer; its IMDS client
  (reached through an HTTP proxy setting, since it hard-codes 169.254.169.254) and the network
  configuration it writes from IMDS; its option-121 parser on the routes the DHCP patch adds;
* waagent: ``OvfEnv`` on ``ovf-env.xml``; ``WireProtocol.detect()``, health reports and the
  VM-agent status upload against the running WireServer and HostGAPlugin (waagent hard-codes
  ports 80 and 32526, so these bind a random 127.x.y.z address and need root); its DHCP parser on
  a slirp reply after the patch.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from harness.azure_emulator.dhcp import patch_dhcp_reply
from harness.azure_emulator.errors import EmulatorError
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.media import ovf_env_xml
from harness.azure_emulator.server import Emulator, Ports
from harness.azure_emulator.timeline import Agent, Step
from harness.azure_emulator.wireserver import Advertised
from tests.test_azure_emulator import KEY, slirp_reply

AGENT_PACKAGES = ("cloud-init", "waagent", "python3-configobj", "python3-distro")
"""The agents and the two pure-Python modules they import that this environment lacks."""


@pytest.fixture(scope="session")
def agents() -> Path:
    """``dist-packages`` holding Debian's cloud-init and waagent sources (fetched once)."""
    cache = Path(platformdirs.user_cache_dir("vmcert")) / "azure-agents"
    site = cache / "usr" / "lib" / "python3" / "dist-packages"
    if (cache / ".complete").exists():
        return site
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("fetching the agents' sources needs Debian's apt-get and dpkg-deb")
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache.parent) as tmp:
        debs, root = Path(tmp, "debs"), Path(tmp, "root")
        debs.mkdir()
        proc = subprocess.run(
            ["apt-get", "download", *AGENT_PACKAGES],
            cwd=debs,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            # Not a skip: these tests are the only proof the documents parse in the real agents.
            pytest.fail(f"apt-get download of the agents failed ({detail}); run apt-get update")
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        (root / ".complete").write_text(" ".join(p.name for p in debs.glob("*.deb")) + "\n")
        shutil.rmtree(cache, ignore_errors=True)
        root.rename(cache)
    return site


def in_agent(agents: Path, code: str, **env: str) -> dict[str, object]:
    """Run ``code`` with the agents importable; it prints one JSON object as its last line."""
    environment = {**os.environ, "PYTHONPATH": str(agents), **env}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def identity() -> Identity:
    return Identity.new(KEY, username="publisher_admin", hostname="candidate-vm")


def test_cloud_init_reads_the_ovf_env(agents: Path, identity: Identity) -> None:
    xml = ovf_env_xml(identity, custom_data=b"#cloud-config\nruncmd: [[true]]\n")
    result = in_agent(
        agents,
        f"""
        import json
        from cloudinit.sources.DataSourceAzure import read_azure_ovf
        md, ud, cfg = read_azure_ovf({xml!r})
        print(json.dumps({{"md": md, "ud": ud.decode() if isinstance(ud, bytes) else ud,
                           "cfg": cfg}}))
        """,
    )
    md, cfg = result["md"], result["cfg"]
    assert isinstance(md, dict) and isinstance(cfg, dict)
    assert md["local-hostname"] == "candidate-vm"
    assert cfg["system_info"] == {"default_user": {"name": "publisher_admin"}}
    assert cfg["ssh_pwauth"] is False
    assert cfg["_pubkeys"] == [
        {
            "fingerprint": None,  # the key is given by value, not by certificate
            "path": "/home/publisher_admin/.ssh/authorized_keys",
            "value": KEY,
        }
    ]
    assert cfg["PreprovisionedVm"] is False
    assert result["ud"] == "#cloud-config\nruncmd: [[true]]\n"


def test_waagent_reads_the_ovf_env(agents: Path, identity: Identity) -> None:
    result = in_agent(
        agents,
        f"""
        import json
        from azurelinuxagent.common.protocol.ovfenv import OvfEnv
        ovf = OvfEnv({ovf_env_xml(identity)!r})
        print(json.dumps({{"user": ovf.username, "host": ovf.hostname,
                           "keys": ovf.ssh_pubkeys, "no_pw": ovf.disable_ssh_password_auth,
                           "agent": ovf.provision_guest_agent, "pw": ovf.user_password}}))
        """,
    )
    assert result == {
        "user": "publisher_admin",
        "host": "candidate-vm",
        "keys": [["/home/publisher_admin/.ssh/authorized_keys", None, KEY]],  # no fingerprint
        "no_pw": True,
        "agent": "true",
        "pw": None,
    }


def test_cloud_init_provisions_against_the_emulator(
    agents: Path, identity: Identity, tmp_path: Path
) -> None:
    with Emulator(identity, tmp_path, attach_media=False) as emulator:
        endpoint = f"127.0.0.1:{emulator.port('wireserver')}"
        result = in_agent(
            agents,
            f"""
            import json
            from cloudinit.sources.helpers import azure as helper
            from cloudinit.sources import DataSourceAzure as ds
            keys = helper.get_metadata_from_fabric(endpoint={endpoint!r})
            helper.report_failure_to_fabric(endpoint={endpoint!r},
                                            description="disk full <&> \\u00e9")
            md = ds.get_metadata_from_imds(retries=0, api_version=ds.IMDS_VER_WANT)
            net = ds.generate_network_config_from_instance_network_metadata(md["network"])
            print(json.dumps({{"keys": keys, "user": ds._username_from_imds(md),
                               "host": ds._hostname_from_imds(md),
                               "no_pw": ds._disable_password_from_imds(md),
                               "imds_keys": md["compute"]["publicKeys"],
                               "net": net}}))
            """,
            http_proxy=f"http://127.0.0.1:{emulator.port('imds')}",
            no_proxy="127.0.0.1",
        )
        state = emulator.state()
    assert result["user"] == "publisher_admin" and result["host"] == "candidate-vm"
    assert result["no_pw"] is True
    assert result["imds_keys"] == [{"keyData": KEY, "path": identity.authorized_keys_path}]
    assert result["net"] == {
        "version": 2,
        "ethernets": {
            "eth0": {
                "dhcp4": True,
                "dhcp4-overrides": {"route-metric": 100},
                "dhcp6": False,
                "match": {"macaddress": identity.mac},
                "set-name": "eth0",
            }
        },
    }
    assert state.ready is not None and state.ready.agent is Agent.CLOUD_INIT
    assert state.ready.ids_match is True
    assert state.failure is not None
    assert state.failure.report.description == "disk full <&> é"
    assert state.counts[Step.IMDS] == 1 and state.counts[Step.GOAL_STATE] == 2


@pytest.fixture
def loopback_wireserver(tmp_path: Path, identity: Identity) -> Iterator[Emulator]:
    """The emulator on ports 80 and 32526 of a random 127.x.y.z (waagent's fixed ports)."""
    host = "127.{}.{}.{}".format(*(random.randint(1, 254) for _ in range(3)))
    emulator = Emulator(
        identity,
        tmp_path,
        attach_media=False,
        bind_host=host,
        ports=Ports(wireserver=80, hostgaplugin=32526),
        advertised=Advertised(host, 80),
    )
    try:
        emulator.start()
    except EmulatorError as exc:
        pytest.skip(f"cannot bind waagent's fixed ports 80 and 32526 ({exc}); run as root")
    with emulator:
        yield emulator


def test_waagent_detects_the_protocol_and_reports_ready(
    agents: Path, loopback_wireserver: Emulator, tmp_path: Path
) -> None:
    emulator = loopback_wireserver
    lib = tmp_path / "waagent"
    lib.mkdir()
    result = in_agent(
        agents,
        f"""
        import json
        from azurelinuxagent.common import conf
        conf.__conf__.values["Lib.Dir"] = {str(lib)!r}
        from azurelinuxagent.common.protocol.wire import WireProtocol
        from azurelinuxagent.common.protocol.restapi import ProvisionStatus, VMStatus
        protocol = WireProtocol({emulator.bind_host!r})
        protocol.detect()
        protocol.report_provision_status(
            ProvisionStatus(status="NotReady", subStatus="Provisioning", description="Starting"))
        protocol.report_provision_status(ProvisionStatus(status="Ready"))
        protocol.report_vm_status(VMStatus(status="Ready", message="Guest Agent is running"))
        goal = protocol.client.get_goal_state()
        print(json.dumps({{"container": goal.container_id, "incarnation": goal.incarnation,
                           "role": goal.role_instance_id}}))
        """,
    )
    identity = emulator.identity
    assert result == {
        "container": str(identity.container_id),
        "incarnation": str(identity.incarnation),
        "role": identity.role_instance_id,
    }
    state = emulator.state()
    assert [h.report.state.value for h in state.health] == ["NotReady", "Ready"]
    assert state.ready is not None and state.ready.agent is Agent.WAAGENT
    assert state.vm_agent_ready is not None and state.vm_agent_ready.status.version == "2.7.3.0"
    for step in (Step.VERSIONS, Step.GOAL_STATE, Step.CONFIG, Step.HOST_PLUGIN):
        assert state.counts.get(step), step
    assert state.counts[Step.CONFIG] == 3  # hosting environment, shared, extensions


@pytest.mark.parametrize("restricted", [True, False])
def test_waagent_finds_the_wireserver_in_the_patched_dhcp_reply(
    agents: Path, restricted: bool
) -> None:
    for kind in (2, 5):
        original = slirp_reply(kind, restricted=restricted)
        patched = patch_dhcp_reply(original)
        assert patched is not None
        bootp = patched[14 + 20 + 8 :]
        result = in_agent(
            agents,
            f"""
            import json
            from azurelinuxagent.common.dhcp import parse_dhcp_resp
            endpoint, gateway, routes = parse_dhcp_resp(bytearray({bootp!r}))
            unpatched = parse_dhcp_resp(bytearray({original[42:]!r}))
            print(json.dumps({{"endpoint": endpoint, "gateway": gateway,
                               "unpatched": unpatched[0]}}))
            """,
        )
        # restrict=on: slirp sends no router; the patch adds routes (121), not a router (3)
        gateway = None if restricted else "168.0.2.2"
        assert result == {"endpoint": "168.63.129.16", "gateway": gateway, "unpatched": None}


def test_cloud_init_reads_the_added_routes_and_wireserver(agents: Path) -> None:
    patched = patch_dhcp_reply(slirp_reply(5))
    assert patched is not None
    options = patched[14 + 20 + 8 + 240 :]
    found: dict[int, bytes] = {}
    index = 0
    while options[index] != 255:
        code, size = options[index], options[index + 1]
        found[code] = options[index + 2 : index + 2 + size]
        index += 2 + size
    # dhclient writes unknown options as colon-separated hex, option 121 as decimal bytes
    lease_245 = ":".join(f"{byte:x}" for byte in found[245])
    lease_121 = ",".join(str(byte) for byte in found[121])
    result = in_agent(
        agents,
        f"""
        import json
        from cloudinit.net.dhcp import parse_static_routes
        from cloudinit.sources.helpers.azure import get_ip_from_lease_value
        print(json.dumps({{"routes": parse_static_routes({lease_121!r}),
                           "wireserver": get_ip_from_lease_value({lease_245!r})}}))
        """,
    )
    assert result == {
        "routes": [
            ["168.63.129.16/32", "168.0.2.2"],
            ["169.254.169.254/32", "168.0.2.2"],
            ["0.0.0.0/0", "168.0.2.2"],
        ],
        "wireserver": "168.63.129.16",
    }
