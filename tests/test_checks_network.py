"""Network configuration files per distribution: ``network_dhcp`` judges the shipped files as
well as the running addresses, and ``network_file_configuration`` follows LISA's per-distribution
network file cases. Files in the formats each distribution's tools write (cloud-init's netplan,
sysconfig and wicked renderers, NetworkManager keyfiles, systemd-networkd); the recorded ones are
in ``tests/fixtures/probe_outputs/*/network_config.txt``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks.facts.network_config import FACT, parse
from checks.model import Status
from tests.test_checks_units import run

P, F = Status.PASS, Status.FAIL
FIXTURES = Path(__file__).parent / "fixtures" / "probe_outputs"
DYNAMIC = (
    "### default_route\ndefault via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.5 metric 100\n"
    "### addresses\n2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global dynamic eth0\n"
    "### persistent_rules\n### config_files\n"
)
RHEL9 = 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n'
SLES15 = 'ID="sles"\nID_LIKE="suse"\nVERSION_ID="15.5"\n'
AZL3 = 'ID=azurelinux\nVERSION_ID="3.0"\n'
AZL2 = 'ID=mariner\nVERSION_ID="2.0"\n'

# (file section, interface, method)
FORMATS = {
    "netplan dhcp": ("/etc/netplan/50-cloud-init.yaml",
                     "network:\n    ethernets:\n        eth0:\n            dhcp4: true\n"
                     "            match:\n                driver: hv_netvsc\n    version: 2\n",
                     "eth0", "dhcp"),
    "netplan static": ("/etc/netplan/01-static.yaml", "network:\n  ethernets:\n    ens3:\n"
                       "      addresses: [10.0.0.9/24]\n  version: 2\n", "ens3", "static"),
    "ifupdown dhcp": ("/etc/network/interfaces", "auto lo\niface lo inet loopback\n"
                      "auto eth0\niface eth0 inet dhcp\n", "eth0", "dhcp"),
    "ifupdown static": ("/etc/network/interfaces", "iface eth0 inet static\n  address 10.0.0.9\n",
                        "eth0", "static"),
    "rhel ifcfg dhcp": ("/etc/sysconfig/network-scripts/ifcfg-eth0",
                        "BOOTPROTO=dhcp\nDEVICE=eth0\nONBOOT=yes\n", "eth0", "dhcp"),
    "rhel ifcfg none+IPADDR": ("/etc/sysconfig/network-scripts/ifcfg-eth0",
                               "BOOTPROTO=none\nDEVICE=eth0\nIPADDR=10.0.0.9\nPREFIX=24\n",
                               "eth0", "static"),
    "nm keyfile auto": ("/etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection",
                        "[connection]\nid=cloud-init eth0\ntype=ethernet\ninterface-name=eth0\n\n"
                        "[ipv4]\nmethod=auto\n", "eth0", "dhcp"),
    "nm keyfile manual": ("/etc/NetworkManager/system-connections/eth0.nmconnection",
                          "[connection]\nid=eth0\n[ipv4]\naddress1=10.0.0.9/24\nmethod=manual\n",
                          "eth0", "static"),
    "wicked ifcfg dhcp": ("/etc/sysconfig/network/ifcfg-eth0", "BOOTPROTO='dhcp'\n"
                          "STARTMODE='auto'\n", "eth0", "dhcp"),
    "wicked ifcfg static": ("/etc/sysconfig/network/ifcfg-eth0", "BOOTPROTO='static'\n"
                            "IPADDR='10.0.0.6/24'\n", "eth0", "static"),
    "networkd dhcp": ("/etc/systemd/network/99-dhcp-en.network", "[Match]\nName=e*\n\n"
                      "[Network]\nDHCP=yes\n", "e*", "dhcp"),
    "networkd static": ("/etc/systemd/network/10-eth0.network", "[Match]\nName=eth0\n"
                        "[Network]\nAddress=10.0.0.9/24\nGateway=10.0.0.1\n", "eth0", "static"),
}  # fmt: skip


@pytest.mark.parametrize(("path", "body", "interface", "method"), FORMATS.values(), ids=FORMATS)
def test_each_format_and_the_verdict(path: str, body: str, interface: str, method: str) -> None:
    text = f"### {path}\n{body}"
    configs = parse(text).interfaces()
    assert [(c.interface, c.method) for c in configs] == [(interface, method)]
    # an interface that came up by DHCP but a static address baked into the image: fail
    result = run("network_dhcp", {"network": DYNAMIC, "network_config": text})
    assert result.status is (P if method == "dhcp" else F), result.message
    if method == "static":
        assert result.message.startswith("the shipped network configuration is static")


def test_the_probe_prints_the_files_whole(tmp_path: Path) -> None:
    """The probe's text, run by ``sh`` on a tree, prints the recorded fixture's format."""
    recorded = (FIXTURES / "rhel9" / "network_config.txt").read_text()
    root = tmp_path / "root"
    for section in recorded.split("### ")[1:]:
        path, _, body = section.partition("\n")
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_text(body)
    text = FACT.script
    for prefix in ("/etc/", "/usr/lib/"):
        text = text.replace(f" {prefix}", f" {root}{prefix}")
    out = subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=True).stdout
    assert out == recorded.replace("### /", f"### {root}/")


@pytest.mark.parametrize(
    ("os_release", "files", "status"),
    [
        (RHEL9, "rhel9", P),
        (SLES15, "sles12", P),
        (SLES15, "sles15", F),  # DHCLIENT_SET_HOSTNAME="AUTO"
        (AZL3, "azurelinux3", P),
        (AZL2, "azurelinux3", F),  # Mariner 2 keeps dhclient.conf's host-name
    ],
)
def test_lisa_network_file_cases(os_release: str, files: str, status: Status) -> None:
    text = (FIXTURES / files / "network_config.txt").read_text()
    facts = {"network_config": text, "os_release": os_release}
    assert run("network_file_configuration", facts).status is status


def test_lisa_rhel_ifcfg_eth0_needs_dhcp_on_boot() -> None:
    text = (FIXTURES / "rhel9" / "network_config.txt").read_text()
    for broken in (text.replace("ONBOOT=yes", "ONBOOT=no"), text.replace("NETWORKING=yes", "")):
        facts = {"network_config": broken, "os_release": RHEL9}
        assert run("network_file_configuration", facts).status is F
    nm_only = "### /etc/NetworkManager/system-connections/eth0.nmconnection\n[ipv4]\nmethod=auto\n"
    result = run("network_file_configuration", {"network_config": nm_only, "os_release": RHEL9})
    assert result.status is F and "/etc/sysconfig/network missing" in result.message
