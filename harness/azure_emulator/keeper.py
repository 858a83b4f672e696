"""Keeps a kept VM's emulator alive after vmcert exits (``vmcert boot --provision azure --keep``).

Every frame slirp sends to the guest passes through the emulator's DHCP redirector, so a VM whose
emulator died has no network at all, and its agent loses the WireServer and IMDS. With ``--keep``
the platform starts this keeper as a detached process next to the VM. It does nothing while
vmcert runs (vmcert's own emulator serves the guest and records the timeline); once vmcert has
exited (the keeper is re-parented), it starts the same services on the same host ports and
serves QEMU's redirector connections, which it inherited: vmcert's redirector stops at a frame
boundary when vmcert exits and leaves them open, because QEMU's ``filter-redirector`` never reads
a reconnected ``in`` chardev again. It serves until QEMU exits or it gets SIGTERM. Its requests
are appended to the same request log; its own messages go to ``keeper.log``.

Run as ``python -m harness.azure_emulator.keeper SPEC`` (the JSON :func:`write_spec` writes).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from harness.azure_emulator.identity import Identity
from harness.azure_emulator.server import Emulator, Ports
from harness.processes import pid_alive

SPEC = "keeper.json"
LOG = "keeper.log"
POLL = 0.2


def write_spec(emulator: Emulator, qemu_pid: int, fds: tuple[int, int] | None) -> Path:
    """Everything the keeper needs to stand in for ``emulator`` (ids, ports, socket dir)."""
    identity = emulator.identity
    spec = {
        "parent_pid": os.getpid(),
        "qemu_pid": qemu_pid,
        "run_dir": str(emulator.run_dir),
        "dhcp_dir": str(emulator.dhcp_dir),
        "redirector_fds": list(fds) if fds is not None else None,
        "ports": {name: emulator.port(name) for name in ("wireserver", "hostgaplugin", "imds")},
        "identity": {
            "vm_uuid": str(identity.vm_uuid),
            "container_id": str(identity.container_id),
            "role_guid": str(identity.role_guid),
            "deployment_id": identity.deployment_id,
            "incarnation": identity.incarnation,
            "hostname": identity.hostname,
            "username": identity.username,
            "public_key": identity.public_key,
            "mac": identity.mac,
            "subscription_id": str(identity.subscription_id),
        },
    }
    path = emulator.run_dir / SPEC
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(spec, indent=2) + "\n")
    temporary.replace(path)
    return path


def spawn(emulator: Emulator, qemu_pid: int) -> subprocess.Popen[bytes]:
    """Start the keeper for ``emulator`` (detached: a terminal's Ctrl-C does not reach it); it
    inherits QEMU's redirector connections, which this process releases when it exits."""
    fds = emulator.redirector_fds()
    spec = write_spec(emulator, qemu_pid, fds)
    with (emulator.run_dir / LOG).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(spec)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            pass_fds=fds or (),
        )
    atexit.register(emulator.release)
    return process


def _identity(data: dict[str, object]) -> Identity:
    def text(key: str) -> str:
        return str(data[key])

    return Identity(
        vm_uuid=uuid.UUID(text("vm_uuid")),
        container_id=uuid.UUID(text("container_id")),
        role_guid=uuid.UUID(text("role_guid")),
        deployment_id=text("deployment_id"),
        incarnation=int(text("incarnation")),
        hostname=text("hostname"),
        username=text("username"),
        public_key=text("public_key"),
        mac=text("mac"),
        subscription_id=uuid.UUID(text("subscription_id")),
    )


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} keeper[{os.getpid()}]: {message}", flush=True)


def main(argv: list[str]) -> int:
    """Wait for vmcert to exit, then serve the guest until QEMU exits (or SIGTERM/SIGINT)."""
    spec = json.loads(Path(argv[0]).read_text())
    parent, qemu = int(spec["parent_pid"]), int(spec["qemu_pid"])
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    while os.getppid() == parent and pid_alive(qemu) and not stop.is_set():
        time.sleep(POLL)
    if not pid_alive(qemu) or stop.is_set():
        return 0
    ports = spec["ports"]
    emulator = Emulator(
        _identity(spec["identity"]),
        Path(spec["run_dir"]),
        ports=Ports(ports["wireserver"], ports["hostgaplugin"], ports["imds"]),
        attach_media=False,  # the CD is attached already (and ejected, usually)
        dhcp_dir=Path(spec["dhcp_dir"]),
    )
    try:
        emulator.start()
        fds = spec["redirector_fds"]
        if fds:
            emulator.adopt_redirector(int(fds[0]), int(fds[1]))
    except Exception as exc:  # a port taken meanwhile: say so where the user will look
        _say(f"cannot take over the emulator: {exc}")
        emulator.stop()
        return 1
    _say(f"serving the VM (QEMU pid {qemu}) on ports {ports}; stops when QEMU exits")
    frames = 0
    try:
        while pid_alive(qemu) and not stop.is_set():
            stop.wait(1.0)
            frames = emulator.frames_forwarded
    finally:
        frames = max(frames, emulator.frames_forwarded)
        emulator.stop()
        dhcp_dir = Path(spec["dhcp_dir"])
        if dhcp_dir != Path(spec["run_dir"]):
            with contextlib.suppress(OSError):
                dhcp_dir.rmdir()  # the short socket directory of a deep run directory
    _say(f"stopped ({frames} frames passed to the guest)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
