"""The ``ssh`` platform: an existing host (the self-test style of certification).

Nothing is booted or destroyed; :meth:`SshPlatform.boot` only proves the host answers. The host
key is checked against the user's known_hosts when it is listed there, else accepted and noted.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.errors import InputError
from harness.platforms.base import BootOptions, Machine, Platform
from harness.ssh import NOTE_KNOWN_HOSTS, SshSession


class SshPlatform(Platform):
    """Uses a machine that is already running, given by host, port, user and key or password."""

    name = "ssh"

    def boot(self, image: Path | None, options: BootOptions) -> Machine:
        if not options.host:
            raise InputError("the ssh platform needs --host (and --user, --key or --password)")
        user = options.user or "root"
        if options.key_path is None and options.password is None:
            raise InputError("the ssh platform needs --key or --password to log in")
        if options.key_path is not None and not options.key_path.is_file():
            raise InputError(f"SSH key {options.key_path} does not exist")
        timeout = options.boot_timeout if options.boot_timeout is not None else 10.0
        started = time.monotonic()
        with SshSession.connect(
            options.host,
            options.port,
            user,
            key_path=options.key_path,
            password=options.password,
            timeout=timeout,
            known_hosts=True,
        ) as session:
            connect_s = time.monotonic() - started
            note = session.host_key_note
            fingerprint = session.host_key_fingerprint
        facts = {
            "platform": self.name,
            "accel": "n/a (existing host)",
            "generation": "unknown",
            "connect_s": f"{connect_s:.2f}",
            "harness_footprint": f"none added; the harness logs in as {user}",
            "host_key_note": note,
            "host_key_fingerprint": fingerprint or "",
        }
        # Later sessions must see the same key as this first one.
        pinned = [fingerprint] if fingerprint and note != NOTE_KNOWN_HOSTS else None
        return Machine(
            host=options.host,
            port=options.port,
            user=user,
            key_path=options.key_path,
            password=options.password,
            serial_log=None,
            facts=facts,
            host_keys=pinned,
            known_hosts=True,
        )
