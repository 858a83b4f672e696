"""How the guest reaches the WireServer and IMDS through QEMU user-mode networking.

On Azure the WireServer is 168.63.129.16 and IMDS 169.254.169.254, and DHCP hands out option 245
(the WireServer's address) and option 121 (host routes to both). Under QEMU's slirp
(reference §7 and §14):

* ``guestfwd`` rules only accept addresses inside the slirp network, so the network is
  ``168.0.0.0/7``, the smallest prefix holding both addresses; the guest gets 168.0.2.15 with
  gateway 168.0.2.2;
* each rule uses the ``cmd:`` form, which spawns :mod:`.relay` per guest connection, relaying
  it to the emulator's server on 127.0.0.1 (the ``chardev`` form serves one connection only);
* ``restrict=on`` stays: it still allows guestfwd connections, and without it slirp would NAT a
  request to 169.254.169.254 out to whatever metadata service the host can see;
* slirp's DHCP server cannot send options 245 or 121, without which waagent never finds the
  WireServer (it loops for over an hour). :func:`patch_dhcp_reply` appends them to slirp's own
  OFFER and ACK, fed through a QEMU ``filter-redirector`` (:mod:`.redirector`), which gives the
  guest Azure's lease and routing table without privileges.
"""

from __future__ import annotations

import shlex
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from harness.azure_emulator.qemuopts import escape_value

WIRESERVER_ADDRESS = IPv4Address("168.63.129.16")
IMDS_ADDRESS = IPv4Address("169.254.169.254")
HOST_PLUGIN_PORT = 32526
GUEST_NETWORK = IPv4Network("168.0.0.0/7")
"""slirp network holding both Azure addresses (``net=``); host/DNS/DHCP derive from it."""
GATEWAY_ADDRESS = IPv4Address("168.0.2.2")
GUEST_ADDRESS = IPv4Address("168.0.2.15")
"""The first (and only) address slirp's DHCP server leases."""

OPTION_ROUTER = 3
OPTION_SERVER_ID = 54
OPTION_MESSAGE_TYPE = 53
OPTION_CLASSLESS_ROUTES = 121
OPTION_WIRESERVER = 245
OPTION_PAD = 0
OPTION_END = 255
DHCP_OFFER = 2
DHCP_ACK = 5
_MAGIC_COOKIE = b"\x63\x82\x53\x63"
_ETH_HEADER = 14
_BOOTP_FIXED = 236


@dataclass(frozen=True)
class Forward:
    """One guest address and port the emulator serves, and the host port behind it."""

    guest_address: IPv4Address
    guest_port: int
    host_port: int


def classless_routes(gateway: IPv4Address) -> bytes:
    """Option 121's payload (RFC 3442): /32 routes to the WireServer and IMDS, and the default.

    A client that receives option 121 ignores option 3, so the default route is included.
    """
    via = gateway.packed
    return (
        bytes([32])
        + WIRESERVER_ADDRESS.packed
        + via
        + bytes([32])
        + IMDS_ADDRESS.packed
        + via
        + bytes([0])
        + via
    )


def azure_options(gateway: IPv4Address) -> bytes:
    """The options appended to a reply: 245, 121 and the end marker."""
    routes = classless_routes(gateway)
    return (
        bytes([OPTION_WIRESERVER, 4])
        + WIRESERVER_ADDRESS.packed
        + bytes([OPTION_CLASSLESS_ROUTES, len(routes)])
        + routes
        + bytes([OPTION_END])
    )


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    words: tuple[int, ...] = struct.unpack(f"!{len(data) // 2}H", data)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(frozen=True)
class DhcpReply:
    """The parts of a server → client DHCP frame that patching needs."""

    message_type: int
    router: IPv4Address | None
    server_id: IPv4Address | None
    end: int
    """Offset of the END option in the frame."""
    udp: int
    udp_end: int
    has_wireserver: bool


def parse_dhcp_reply(frame: bytes) -> DhcpReply | None:
    """The DHCP reply in an Ethernet frame (IPv4, UDP 67 → 68), or ``None`` for anything else."""
    if len(frame) < _ETH_HEADER + 20 or frame[12:14] != b"\x08\x00":
        return None
    ip = _ETH_HEADER
    if frame[ip] >> 4 != 4 or frame[ip + 9] != 17:
        return None
    udp = ip + (frame[ip] & 0x0F) * 4
    if len(frame) < udp + 8:
        return None
    source, destination, length = struct.unpack("!HHH", frame[udp : udp + 6])
    udp_end = udp + length
    options = udp + 8 + _BOOTP_FIXED + 4
    if (source, destination) != (67, 68) or udp_end > len(frame) or udp_end < options:
        return None
    if frame[options - 4 : options] != _MAGIC_COOKIE:
        return None
    message_type = 0
    router: IPv4Address | None = None
    server_id: IPv4Address | None = None
    has_wireserver = False
    index = options
    while index < udp_end:
        code = frame[index]
        if code == OPTION_END:
            return DhcpReply(message_type, router, server_id, index, udp, udp_end, has_wireserver)
        if code == OPTION_PAD:
            index += 1
            continue
        if index + 1 >= udp_end:
            return None
        size = frame[index + 1]
        value = frame[index + 2 : index + 2 + size]
        if len(value) != size or index + 2 + size > udp_end:
            return None
        if code == OPTION_MESSAGE_TYPE and size == 1:
            message_type = value[0]
        elif code == OPTION_ROUTER and size >= 4:
            router = IPv4Address(value[:4])
        elif code == OPTION_SERVER_ID and size == 4:
            server_id = IPv4Address(value)
        elif code == OPTION_WIRESERVER:
            has_wireserver = True
        index += 2 + size
    return None  # no END option


def patch_dhcp_reply(frame: bytes) -> bytes | None:
    """``frame`` with options 245 and 121 added, when it is a DHCP OFFER or ACK; else ``None``.

    slirp's reply is a fixed-size BOOTP payload whose option area is mostly zero padding, so the
    options overwrite the END marker and the padding after it: the frame keeps its length, the
    IPv4 header is unchanged and only the UDP checksum is recomputed.

    With ``restrict=on`` slirp sends no router (option 3) and no DNS server: the routes then go
    via the DHCP server's own address (option 54, slirp's gateway), as Azure's go via its
    gateway. A reply that already has option 245, names neither, or has no room is left alone.
    """
    reply = parse_dhcp_reply(frame)
    if reply is None or reply.message_type not in (DHCP_OFFER, DHCP_ACK):
        return None
    gateway = reply.router or reply.server_id
    if gateway is None or reply.has_wireserver:
        return None
    extra = azure_options(gateway)
    if reply.end + len(extra) > reply.udp_end:
        return None
    patched = bytearray(frame)
    patched[reply.end : reply.end + len(extra)] = extra
    udp = reply.udp
    if struct.unpack("!H", patched[udp + 6 : udp + 8])[0] != 0:  # 0: sender did not checksum
        patched[udp + 6 : udp + 8] = b"\0\0"
        ip = _ETH_HEADER
        length = reply.udp_end - udp
        pseudo = bytes(patched[ip + 12 : ip + 20]) + struct.pack("!BBH", 0, 17, length)
        checksum = _checksum(pseudo + bytes(patched[udp : reply.udp_end])) or 0xFFFF
        patched[udp + 6 : udp + 8] = struct.pack("!H", checksum)
    return bytes(patched)


RELAY_SCRIPT = Path(__file__).with_name("relay.py")


def relay_command(host: str, port: int) -> str:
    """The ``cmd:`` of a guestfwd rule: this interpreter running :mod:`.relay` in isolated mode.

    The script runs by path (``-I -S``: no site, no environment, no package import) because
    QEMU spawns it for every guest connection. The string is shell-quoted: QEMU splits it with
    ``g_shell_parse_argv``.
    """
    return shlex.join([sys.executable, "-I", "-S", str(RELAY_SCRIPT), host, str(port)])


def netdev_value(
    netdev_id: str,
    forwards: Sequence[Forward],
    *,
    relay_host: str,
    hostfwd: Sequence[str] = (),
) -> str:
    """The ``-netdev`` value: slirp on :data:`GUEST_NETWORK`, ``restrict=on``, the platform's
    ``hostfwd`` rules (e.g. ``tcp:127.0.0.1:2222-:22``) and one guestfwd per emulated port."""
    parts = [f"user,id={netdev_id}", f"net={GUEST_NETWORK}", "restrict=on"]
    parts.extend(f"hostfwd={escape_value(rule)}" for rule in hostfwd)
    for forward in forwards:
        rule = (
            f"tcp:{forward.guest_address}:{forward.guest_port}-cmd:"
            f"{relay_command(relay_host, forward.host_port)}"
        )
        parts.append(f"guestfwd={escape_value(rule)}")
    return ",".join(parts)
