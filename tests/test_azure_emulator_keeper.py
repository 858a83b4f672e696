"""``--keep`` with ``--provision azure``: the emulator outlives vmcert, with real QEMU (paused, no
guest) and a real vmcert-like parent process that exits.

The parent starts the emulator and QEMU with the emulator's arguments exactly as the platform
does, spawns the keeper and exits. Then the keeper must answer on the same WireServer port with
the same goal state, QEMU's DHCP redirector connections must stay open (the keeper inherited them:
QEMU never re-reads a reconnected one) and frames slirp sends to the guest must pass through the
keeper; once QEMU quits the keeper must stop and leave no socket behind.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.azure_emulator.keeper import LOG
from harness.platforms.qemu.platform import free_port
from harness.processes import pid_alive as alive
from tests.test_azure_emulator_servers import qmp, request

PARENT = r"""
import json, subprocess, sys, time
from pathlib import Path
from harness.azure_emulator import keeper
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.server import Emulator

run_dir, monitor, ssh_port = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdXrvnTfIyUcZk8Id9cTkgvHjbzeSxu2R2Q4cuQxd3T me@host"
emulator = Emulator(Identity.new(key), run_dir).start()
args = emulator.qemu_arguments("n0", accel="tcg", hostfwd=[f"tcp:127.0.0.1:{ssh_port}-:22"])
qemu = subprocess.Popen(
    ["qemu-system-x86_64", "-accel", "tcg", "-cpu", args.cpu, "-machine", "q35", "-nodefaults",
     "-display", "none", "-S", "-netdev", args.netdev, "-device", args.nic, *args.extra,
     "-qmp", f"unix:{monitor},server=on,wait=off"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    start_new_session=True,
)
deadline = time.monotonic() + 20
while not emulator.qemu_connected and time.monotonic() < deadline:
    time.sleep(0.05)
kept = keeper.spawn(emulator, qemu.pid)
print(json.dumps({
    "qemu": qemu.pid, "keeper": kept.pid, "wireserver": emulator.port("wireserver"),
    "container": str(emulator.identity.container_id), "dhcp_dir": str(emulator.dhcp_dir),
    "connected": emulator.qemu_connected,
}), flush=True)
"""


def redirector_connected(monitor: Path) -> bool:
    """Whether QEMU's DHCP redirector chardevs are connected (QMP ``query-chardev`` names a
    closed one ``disconnected:…``)."""
    chardevs = qmp(monitor, "query-chardev")["return"]
    assert isinstance(chardevs, list)
    names = {c["label"]: c["filename"] for c in chardevs}
    return all(
        not names[label].startswith("disconnected")
        for label in ("vmcert-dhcp-out", "vmcert-dhcp-in")
    )


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs QEMU")
def test_keeper_takes_over_when_vmcert_exits_and_stops_with_qemu(tmp_path: Path) -> None:
    monitor = tmp_path / "qmp.sock"
    run_dir = tmp_path / "azure"
    ssh_port = free_port()
    parent = subprocess.run(
        [sys.executable, "-c", PARENT, str(run_dir), str(monitor), str(ssh_port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    info = json.loads(parent.stdout.strip().splitlines()[-1])
    qemu, kept = int(info["qemu"]), int(info["keeper"])
    try:
        assert info["connected"], "QEMU never connected to the emulator in the parent"
        log = run_dir / LOG
        deadline = time.monotonic() + 20
        while "serving the VM" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
            time.sleep(0.1)
        # the same service on the same port, for the same VM
        reply = request(
            int(info["wireserver"]), "GET", "/machine/?comp=goalstate", User_Agent="WALinuxAgent"
        )
        assert reply.startswith(b"HTTP/1.1 200") and info["container"].encode() in reply
        assert redirector_connected(monitor), "QEMU lost the redirector when vmcert exited"
        # slirp answers a forwarded connection by sending the guest a SYN: through the keeper
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", ssh_port), 2):
            time.sleep(1)
        requests = (run_dir / "azure-requests.jsonl").read_text()
        assert '"step":"goal state"' in requests  # the keeper appends to the same log
        qmp(monitor, "quit")
        deadline = time.monotonic() + 10
        while alive(kept):
            assert time.monotonic() < deadline, "the keeper outlived QEMU"
            time.sleep(0.1)
        stopped = re.search(r"stopped \((\d+) frames passed to the guest\)", log.read_text())
        assert stopped is not None and int(stopped.group(1)) > 0, log.read_text()
        dhcp_dir = Path(info["dhcp_dir"])
        assert not (dhcp_dir / "dhcp-out.sock").exists()
        assert not (dhcp_dir / "dhcp-in.sock").exists()
    finally:
        for pid in (qemu, kept):
            if alive(pid):
                subprocess.run(["kill", "-9", str(pid)], check=False)
