"""A platform in one file: certify the machine vmcert itself runs on.

The use case is an image build (Packer, a CI job inside the VM being built): there is no other
host to log in to, so the platform starts a private ``sshd`` on 127.0.0.1 for root with a fresh
host key and client key, and its teardown stops it and deletes the keys. It shows the three parts
every platform has: its own options dataclass (flags and ``[platform.localhost]`` config keys come
from it), ``boot`` returning a :class:`Machine`, and a teardown that leaves nothing behind. In
vmcert itself the module would be ``harness/platforms/localhost.py`` (discovered); as a plugin it
is the ``vmcert.platforms`` entry point.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from harness.errors import InfraError, InputError
from harness.keys import generate_keypair
from harness.platforms import BootContext, Footprint, Machine, Platform, PlatformOptions
from harness.platforms.base import Bootable
from harness.platforms.options import expect_options, option
from harness.ssh import fingerprint


@dataclass(frozen=True)
class LocalhostOptions(PlatformOptions):
    """Where the private sshd listens and which binary it is."""

    sshd: Path = option(Path("/usr/sbin/sshd"), help="The sshd binary to start.")
    start_timeout: float = option(
        10.0, flag="sshd-timeout", help="Seconds for the private sshd to listen.", minimum=0.1
    )


class LocalhostPlatform(Platform):
    """Runs the checks on this machine through a private, throw-away sshd on loopback."""

    name = "localhost"
    options_type = LocalhostOptions
    needs_image = False

    def describe(self, options: PlatformOptions) -> str:
        return "this machine (localhost)"

    def boot(
        self, candidate: Bootable | None, options: PlatformOptions, context: BootContext
    ) -> Machine:
        opts = expect_options(options, LocalhostOptions, self.name)
        if candidate is not None:
            raise InputError("the localhost platform certifies this machine: give no image")
        if not opts.sshd.is_file():
            raise InputError(f"{opts.sshd} does not exist; install openssh-server or pass --sshd")
        work = Path(tempfile.mkdtemp(prefix="vmcert-localhost-", dir=context.run_dir))
        try:
            return self._start(opts, work)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def _start(self, opts: LocalhostOptions, work: Path) -> Machine:
        host_key = work / "host_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True
        )
        client = generate_keypair(work / "client")
        (work / "authorized_keys").write_text(client.public_line + "\n")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        config = work / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {host_key}\n"
            f"PidFile {work / 'sshd.pid'}\nAuthorizedKeysFile {work / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\n"
            "StrictModes no\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        process = subprocess.Popen(
            [str(opts.sshd), "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(work / "sshd.log").open("wb"),
        )

        def teardown() -> None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            shutil.rmtree(work, ignore_errors=True)

        deadline = time.monotonic() + opts.start_timeout
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (work / "sshd.log").read_text(errors="replace").strip()[-300:]
                teardown()
                raise InfraError(f"the private sshd did not listen on 127.0.0.1:{port}: {log}")
            time.sleep(0.05)
        pinned = fingerprint(paramiko.Ed25519Key(filename=str(host_key)))
        return Machine(
            host="127.0.0.1",
            port=port,
            user="root",
            key_path=client.private_path,
            host_keys=[pinned],
            footprint=Footprint(
                login_user="root", added=("a private sshd on loopback", "an ephemeral key")
            ),
            facts={"platform": self.name, "host_key_note": "pinned to the generated host key"},
            _teardown=teardown,
        )


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
