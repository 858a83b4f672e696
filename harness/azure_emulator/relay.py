"""Relay one guest connection to an emulator server (run by QEMU for a ``guestfwd`` rule).

QEMU's ``guestfwd=tcp:ADDR:PORT-cmd:COMMAND`` spawns ``COMMAND`` for every guest connection with
stdin, stdout *and stderr* bound to the guest's socket (libslirp ``fork_exec``), so this script
must never write to stderr: a traceback would go to the guest. It copies bytes both ways between
fd 0 and ``HOST:PORT``, passes half-closes on, and exits when both directions are done, when
either side fails, or after :data:`IDLE_SECONDS` without traffic. It uses only the standard
library and runs by path in isolated mode (see :func:`.dhcp.relay_command`).

Usage: ``python3 -I -S relay.py HOST PORT``
"""

from __future__ import annotations

import os
import select
import socket
import sys

IDLE_SECONDS = 120.0
CHUNK = 65536


def _pump(guest: socket.socket, upstream: socket.socket) -> None:
    peers = {guest: upstream, upstream: guest}
    reading = [guest, upstream]
    while reading:
        ready, _, _ = select.select(reading, [], [], IDLE_SECONDS)
        if not ready:
            return
        for source in ready:
            data = source.recv(CHUNK)
            target = peers[source]
            if data:
                target.sendall(data)
                continue
            reading.remove(source)
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                return


def main(argv: list[str]) -> int:
    """Relay fd 0 to ``argv[1]:argv[2]``; the exit code is always 0 (nobody reads it)."""
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    try:
        host, port = argv[1], int(argv[2])
        guest = socket.socket(fileno=os.dup(0))
        with guest, socket.create_connection((host, port), timeout=10) as upstream:
            upstream.settimeout(None)
            _pump(guest, upstream)
    except (OSError, ValueError, IndexError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
