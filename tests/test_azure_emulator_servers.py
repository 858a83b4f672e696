"""The emulator's servers and helper threads with real sockets: loopback only, hostile guest
input, teardown that leaves nothing behind, the guestfwd relay, the DHCP redirector, the CD-tray
watcher, and QEMU accepting the arguments the emulator gives it (started paused, no guest)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.azure_emulator.dhcp import RELAY_SCRIPT
from harness.azure_emulator.errors import EmulatorError
from harness.azure_emulator.httpserver import MAX_CONNECTIONS
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.redirector import DhcpRedirector
from harness.azure_emulator.server import REQUEST_LOG, Emulator
from harness.azure_emulator.timeline import Agent, Step
from harness.azure_emulator.trayevents import TrayWatcher, is_tray_opened
from tests.test_azure_emulator import KEY, health_xml, slirp_reply

SERVICES = ("wireserver", "hostgaplugin", "imds")


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(Identity.new(KEY), tmp_path, attach_media=False) as running:
        yield running


def raw_http(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` and read until the server closes (or is quiet for 2 s after answering)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        chunks = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                chunks += chunk
                sock.settimeout(2)
        return chunks


def request(port: int, method: str, target: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: x", "Connection: close"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def log_lines(emulator: Emulator) -> list[dict[str, object]]:
    return [json.loads(line) for line in emulator.request_log_path.read_text().splitlines()]


def azure_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("azure-")]


# -- binding and teardown --------------------------------------------------------------------------


def test_servers_bind_loopback_only(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::1", "10.0.2.2", "localhost"):
        with pytest.raises(EmulatorError, match="loopback"):
            Emulator(Identity.new(KEY), tmp_path, bind_host=host)
    with Emulator(Identity.new(KEY), tmp_path, attach_media=False) as running:
        for name in SERVICES:
            server = running._servers[name]
            assert server.server_address[0] == "127.0.0.1"
            assert server.socket.family == socket.AF_INET


def test_stop_leaves_no_thread_port_or_socket_behind(tmp_path: Path) -> None:
    before = azure_threads()
    emulator = Emulator(Identity.new(KEY), tmp_path, attach_media=False).start()
    ports = [emulator.port(name) for name in SERVICES]
    sockets = [p for p in tmp_path.iterdir() if p.suffix == ".sock"]
    assert len(sockets) == 3 and len(azure_threads()) > len(before)
    idle = socket.create_connection(("127.0.0.1", ports[0]))  # a guest holding a connection
    request(ports[0], "GET", "/?comp=versions")
    started = time.monotonic()
    emulator.stop()
    emulator.stop()  # idempotent
    assert time.monotonic() - started < 5  # the idle connection did not hold teardown up
    idle.close()
    assert azure_threads() == before
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".sock"]
    assert (tmp_path / REQUEST_LOG).exists()  # the log is the run's evidence: it stays


def test_start_failure_leaves_nothing_running(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    taken = blocker.getsockname()[1]
    blocker.listen()
    try:
        from harness.azure_emulator.server import Ports

        emulator = Emulator(
            Identity.new(KEY), tmp_path, attach_media=False, ports=Ports(imds=taken)
        )
        before = azure_threads()
        with pytest.raises(EmulatorError, match="cannot serve imds"):
            emulator.start()
        assert azure_threads() == before
    finally:
        blocker.close()


# -- requests end to end -------------------------------------------------------------------------


def test_requests_are_answered_logged_and_put_on_the_timeline(emulator: Emulator) -> None:
    identity = emulator.identity
    wire, imds = emulator.port("wireserver"), emulator.port("imds")
    reply = request(wire, "GET", "/machine/?comp=goalstate", User_Agent="Cloud-Init/22.4.2")
    assert reply.startswith(b"HTTP/1.1 200") and str(identity.container_id).encode() in reply
    assert request(imds, "GET", "/metadata/instance?api-version=2021-08-01").startswith(
        b"HTTP/1.1 400"
    )
    body = health_xml(identity, "Ready")
    assert request(
        wire, "POST", "/machine?comp=health", body, User_Agent="Cloud-Init/22.4.2"
    ).startswith(b"HTTP/1.1 200")
    state = emulator.state()
    assert state.requests == 3 and state.imds_calls == 1
    assert state.ready is not None and state.ready.agent is Agent.CLOUD_INIT
    assert state.goal_state_fetched is not None
    assert state.goal_state_fetched.at <= state.ready.at
    lines = log_lines(emulator)
    assert [line["step"] for line in lines] == ["goal state", "instance metadata", "health report"]
    health = lines[2]["health"]
    assert isinstance(health, dict) and health["state"] == "Ready" and health["ids_match"] is True


def test_oversized_bodies_are_refused_and_logged(emulator: Emulator) -> None:
    wire = emulator.port("wireserver")
    declared = "POST /machine?comp=health HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n"
    assert raw_http(wire, declared.encode() + b"<Health>").startswith(b"HTTP/1.1 413")
    big = b"<Health>" + b"x" * (2 << 20)
    assert request(wire, "POST", "/machine?comp=health", big).startswith(b"HTTP/1.1 413")
    chunked = "PUT /vmcert-status-blob HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert raw_http(wire, chunked.encode() + b"5\r\nhello\r\n0\r\n\r\n").startswith(b"HTTP/1.1 411")
    lines = log_lines(emulator)
    assert [line["status"] for line in lines] == [413, 413, 411]
    assert lines[1]["body_bytes"] == len(big)
    assert len(str(lines[1]["body"])) < 2200
    assert emulator.state().ready is None and emulator.state().counts[Step.REJECTED] == 3


def test_garbage_and_invalid_utf8_give_valid_log_lines(emulator: Emulator) -> None:
    wire = emulator.port("wireserver")
    # A request line without a version is HTTP/0.9: the answer has no status line.
    assert b"400" in raw_http(wire, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    body = b"<Health><State>\xff\xfe\x80</State></Health>"
    reply = raw_http(
        wire,
        b"POST /machine?comp=health&\xff\xfe HTTP/1.1\r\nHost: x\r\nUser-Agent: \xc3\x28\x1b[2J\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    assert reply.startswith(b"HTTP/1.1 400")  # answered, not crashed
    assert raw_http(wire, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n").startswith(
        b"HTTP/1.1 414"
    )
    raw = emulator.request_log_path.read_bytes()
    assert raw.isascii() and b"\x1b" not in raw
    lines = log_lines(emulator)  # every line parses
    assert len(lines) == 3 and all(len(json.dumps(line)) < 8000 for line in lines)
    assert request(wire, "GET", "/?comp=versions").startswith(b"HTTP/1.1 200")  # still serving


def test_draining_a_huge_body_keeps_memory_bounded(emulator: Emulator) -> None:
    port = emulator.port("hostgaplugin")
    size = 48 << 20
    tracemalloc.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            head = f"PUT /vmAgentLog HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
            sock.sendall(head.encode())
            chunk = b"z" * 65536
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
            reply = sock.recv(4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply.startswith(b"HTTP/1.1 200")
    assert peak < 8 << 20  # a 48 MiB upload was counted, not kept
    assert log_lines(emulator)[-1]["body_bytes"] == size


def test_connection_flood_is_capped(emulator: Emulator) -> None:
    port = emulator.port("wireserver")
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS + 8)]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if emulator.state().counts.get(Step.REJECTED, 0) >= 8:
                break
            time.sleep(0.05)
        assert emulator.state().counts.get(Step.REJECTED, 0) >= 8
        server = emulator._servers["wireserver"]
        assert len(server._connections) <= MAX_CONNECTIONS
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while emulator._servers["wireserver"]._connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request(port, "GET", "/?comp=versions").startswith(b"HTTP/1.1 200")


# -- the guestfwd relay -------------------------------------------------------------------------


def run_relay(port: int, payload: bytes) -> tuple[bytes, int]:
    """Run the relay as QEMU does: fds 0, 1 and 2 are one end of the guest's socket."""
    guest, child = socket.socketpair()
    with guest, child:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(RELAY_SCRIPT), "127.0.0.1", str(port)],
            stdin=child.fileno(),
            stdout=child.fileno(),
            stderr=child.fileno(),
        )
        child.close()
        guest.sendall(payload)
        guest.shutdown(socket.SHUT_WR)
        guest.settimeout(20)
        received = b""
        with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
            while chunk := guest.recv(65536):
                received += chunk
        return received, proc.wait(20)


def test_relay_carries_a_guest_request_to_the_server(emulator: Emulator) -> None:
    payload = b"GET /?comp=versions HTTP/1.1\r\nHost: 168.63.129.16\r\nConnection: close\r\n\r\n"
    received, code = run_relay(emulator.port("wireserver"), payload)
    assert code == 0
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"</Versions>\n")


def test_relay_never_writes_to_the_guest_on_failure() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    received, code = run_relay(port, b"GET / HTTP/1.1\r\n\r\n")
    assert (received, code) == (b"", 0)  # no traceback reaches the guest


# -- DHCP redirector and tray watcher ------------------------------------------------------------


def frame_message(frame: bytes) -> bytes:
    return struct.pack("!I", len(frame)) + frame


def read_frames(sock: socket.socket, count: int) -> list[bytes]:
    buffer, frames = b"", []
    sock.settimeout(5)
    while len(frames) < count:
        buffer += sock.recv(65536)
        while len(buffer) >= 4 and len(buffer) >= 4 + struct.unpack("!I", buffer[:4])[0]:
            size = struct.unpack("!I", buffer[:4])[0]
            frames.append(buffer[4 : 4 + size])
            buffer = buffer[4 + size :]
    return frames


def test_redirector_patches_dhcp_and_passes_everything_else_in_order(tmp_path: Path) -> None:
    kinds: list[str] = []
    redirector = DhcpRedirector(tmp_path, kinds.append)
    redirector.start()
    try:
        out = socket.socket(socket.AF_UNIX)
        out.connect(str(redirector.out_path))
        into = socket.socket(socket.AF_UNIX)
        into.connect(str(redirector.in_path))
        other = b"\x52\x54\x00\xab\xcd\x01" + b"\x52\x55\x0a\x00\x02\x02\x08\x06" + b"\x01" * 28
        offer, ack = slirp_reply(2), slirp_reply(5)
        out.sendall(b"".join(frame_message(f) for f in (other, offer, other, ack)))
        frames = read_frames(into, 4)
        assert frames[0] == other and frames[2] == other
        assert frames[1] != offer and bytes([245, 4, 168, 63, 129, 16]) in frames[1]
        assert bytes([245, 4, 168, 63, 129, 16]) in frames[3]
        assert kinds == ["OFFER", "ACK"] and redirector.connected
        # A burst larger than the socket buffers does not deadlock (QEMU writes synchronously).
        burst = other + b"\0" * 1400
        for _ in range(2000):
            out.sendall(frame_message(burst))
        assert len(read_frames(into, 2000)) == 2000
        out.close()
        into.close()
    finally:
        redirector.stop()
        redirector.stop()
    assert not redirector.out_path.exists() and not redirector.in_path.exists()


def test_long_run_dirs_get_short_socket_paths(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    redirector = DhcpRedirector(deep)
    watcher = TrayWatcher(deep, lambda: None)
    assert len(str(redirector.out_path)) < 100 and len(str(watcher.path)) < 100
    redirector.start()
    watcher.start()
    redirector.stop()
    watcher.stop()
    assert not redirector.out_path.parent.exists() and not watcher.path.parent.exists()


def test_tray_watcher_reports_the_cd_eject(tmp_path: Path) -> None:
    ejected = threading.Event()
    watcher = TrayWatcher(tmp_path, ejected.set)
    watcher.start()
    try:
        with socket.socket(socket.AF_UNIX) as qemu:
            qemu.connect(str(watcher.path))
            qemu.sendall(b'{"QMP": {"version": {}}}\n')
            assert b"qmp_capabilities" in qemu.recv(4096)
            qemu.sendall(
                b'{"event": "DEVICE_TRAY_MOVED", "data": {"device": "vmcert-cd0-drive", '
                b'"tray-open": false, "id": "vmcert-cd0"}}\nnot json\n'
            )
            time.sleep(0.3)
            assert not ejected.is_set()
            qemu.sendall(
                b'{"event": "DEVICE_TRAY_MOVED", "data": {"device": "vmcert-cd0-drive", '
                b'"tray-open": true, "id": "vmcert-cd0"}}\n'
            )
            assert ejected.wait(5)
    finally:
        watcher.stop()
    assert not watcher.path.exists()
    assert not is_tray_opened(
        {"event": "DEVICE_TRAY_MOVED", "data": {"id": "other", "tray-open": True}}
    )


# -- QEMU takes the arguments ------------------------------------------------------------------


def qmp(path: Path, command: str) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        reader = sock.makefile("rb")
        reader.readline()
        for name in ("qmp_capabilities", command):
            sock.sendall(json.dumps({"execute": name}).encode() + b"\n")
            while True:
                reply = json.loads(reader.readline())
                if "return" in reply or "error" in reply:
                    break
        return reply  # type: ignore[no-any-return]


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs QEMU")
def test_qemu_accepts_the_emulator_arguments(tmp_path: Path) -> None:
    identity = Identity.new(KEY)
    with Emulator(identity, tmp_path) as emulator:
        args = emulator.qemu_arguments("n0", accel="tcg", hostfwd=["tcp:127.0.0.1:0-:22"])
        monitor = tmp_path / "qmp.sock"
        command = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-cpu",
            args.cpu,
            "-machine",
            "q35",
            "-nodefaults",
            "-display",
            "none",
            "-S",
            "-netdev",
            args.netdev,
            "-device",
            args.nic,
            *args.extra,
            "-qmp",
            f"unix:{monitor},server=on,wait=off",
        ]
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not emulator.qemu_connected and proc.poll() is None:
                assert time.monotonic() < deadline, "QEMU never connected"
                time.sleep(0.05)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert qmp(monitor, "query-uuid")["return"] == {"UUID": str(identity.vm_uuid)}
            qmp(monitor, "quit")
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errors = proc.stderr.read().decode() if proc.stderr else ""
        assert "error" not in errors.lower(), errors


def test_without_imds_the_guest_gets_no_metadata_route(tmp_path: Path) -> None:
    with Emulator(Identity.new(KEY), tmp_path, attach_media=False, serve_imds=False) as emulator:
        addresses = {str(forward.guest_address) for forward in emulator.forwards()}
        assert addresses == {"168.63.129.16"}
        args = emulator.qemu_arguments("n0", accel="tcg")
        assert "169.254.169.254" not in args.netdev and "restrict=on" in args.netdev
        assert not any("provisioning.iso" in arg for arg in args.extra)
        with pytest.raises(RuntimeError):
            emulator.port("imds")
