"""The ``ssh`` platform: an existing host (the self-test style of certification).

Nothing is booted or destroyed; :meth:`SshPlatform.boot` only proves the host answers. The host
key is checked against known_hosts when it is listed there, else accepted and noted (and every
later session is pinned to it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError
from harness.platforms.base import Bootable, BootContext, Footprint, Machine, Platform
from harness.platforms.options import PlatformOptions, Secret, expect_options, option
from harness.ssh import NOTE_KNOWN_HOSTS, SshSession

PASSWORD_ENV = "VMCERT_SSH_PASSWORD"


@dataclass(frozen=True)
class SshOptions(PlatformOptions):
    """Which running host to use and how to log in."""

    host: str | None = option(None, help="Host name or address of the running machine.")
    port: int = option(22, help="SSH port.", minimum=1)
    user: str = option("root", help="Login user (needs passwordless sudo).")
    key: Path | None = option(None, help="Private key file to log in with.")
    password: Secret | None = option(
        None,
        help=f"Log in with a password from ${PASSWORD_ENV} (else a prompt); prefer --key.",
        env=PASSWORD_ENV,
    )
    known_hosts: Path | None = option(
        None,
        help="known_hosts file to check the host key against (default ~/.ssh/known_hosts); an "
        "unlisted key is accepted on first use and noted in the report.",
    )
    connect_timeout: float | None = option(
        None,
        flag="timeout",
        help="Seconds to wait for the first connection (default 10).",
        minimum=0.1,
    )


class SshPlatform(Platform):
    """Uses a machine that is already running, given by host, port, user and key or password."""

    name = "ssh"
    options_type = SshOptions
    needs_image = False

    def describe(self, options: PlatformOptions) -> str:
        opts = expect_options(options, SshOptions, self.name)
        return f"{opts.user}@{opts.host or '?'}:{opts.port}"

    def boot(
        self, candidate: Bootable | None, options: PlatformOptions, context: BootContext
    ) -> Machine:
        opts = expect_options(options, SshOptions, self.name)
        if not opts.host:
            raise InputError("the ssh platform needs --host (and --user, --key or --password)")
        if opts.key is None and opts.password is None:
            raise InputError("the ssh platform needs --key or --password to log in")
        if opts.key is not None and not opts.key.is_file():
            raise InputError(f"SSH key {opts.key} does not exist")
        if opts.known_hosts is not None and not opts.known_hosts.is_file():
            raise InputError(f"known_hosts file {opts.known_hosts} does not exist")
        password = opts.password.reveal() if opts.password is not None else None
        known_hosts: bool | Path = opts.known_hosts or True
        timeout = opts.connect_timeout if opts.connect_timeout is not None else 10.0
        started = time.monotonic()
        with SshSession.connect(
            opts.host,
            opts.port,
            opts.user,
            key_path=opts.key,
            password=password,
            timeout=timeout,
            known_hosts=known_hosts,
        ) as session:
            connect_s = time.monotonic() - started
            note = session.host_key_note
            fingerprint = session.host_key_fingerprint
        facts = {
            "platform": self.name,
            "accel": "n/a (existing host)",
            "generation": "unknown",
            "connect_s": f"{connect_s:.2f}",
            "host_key_note": note,
            "host_key_fingerprint": fingerprint or "",
        }
        # Later sessions must see the same key as this first one.
        pinned = [fingerprint] if fingerprint and note != NOTE_KNOWN_HOSTS else None
        return Machine(
            host=opts.host,
            port=opts.port,
            user=opts.user,
            key_path=opts.key,
            password=password,
            serial_log=None,
            facts=facts,
            host_keys=pinned,
            known_hosts=known_hosts,
            footprint=Footprint(login_user=opts.user, login_is_deploy_user=True),
        )
