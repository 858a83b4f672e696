"""The embedded storage default: Azurite (npm, pinned in package.json) with one account per region.

Azurite 3.35.0 is the newest release that runs on Node 20 (3.36+ need Node 22). It accepts REST
versions up to 2025-11-05, older than what azure-storage-blob 12.31 sends, so every client made for
it pins :data:`API_VERSION` (and the server also runs with ``--skipApiVersionCheck``). It binds
127.0.0.1 on a free port, keeps its data in a fresh ``--location`` per run and is stopped with
SIGTERM (SIGKILL can lose the last 5 s of metadata, reference P12).

``vmcert storage up|down|status`` keeps one instance alive across runs; its state (pid, port,
location, account keys) is in a mode-0600 JSON file in the user state directory.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from harness.errors import InfraError
from harness.processes import pid_alive
from harness.replication.config import DEFAULT_BLOB_TEMPLATE, Region, StorageConfig
from harness.replication.redaction import register_secret

API_VERSION = "2025-11-05"
"""The newest blob REST version Azurite 3.35.0 accepts."""

AZURITE_VERSION = "3.35.0"
DEFAULT_REGIONS = ("eastus", "westeurope", "southeastasia")
CONTAINER = "vhds"
BIN_ENV = "VMCERT_AZURITE"
"""Environment variable naming the ``azurite-blob`` executable (overrides the search)."""


def account_for(region: str) -> str:
    """The Azurite account name for a region: 3-24 lowercase letters/digits, derived stably."""
    cleaned = re.sub(r"[^a-z0-9]", "", region.lower())
    return ("vmc" + cleaned)[:24]


def find_azurite() -> Path:
    """The ``azurite-blob`` executable: ``$VMCERT_AZURITE``, the repo's node_modules, or PATH."""
    env = os.environ.get(BIN_ENV)
    candidates = [Path(env)] if env else []
    repo_root = Path(__file__).resolve().parents[2]
    candidates += [
        repo_root / "node_modules/.bin/azurite-blob",
        Path.cwd() / "node_modules/.bin/azurite-blob",
    ]
    which = shutil.which("azurite-blob")
    if which:
        candidates.append(Path(which))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise InfraError(
        "Azurite not found (node_modules/.bin/azurite-blob); run `npm ci` in the vmcert checkout "
        f"(scripts/install.sh does) or set {BIN_ENV}"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Azurite:
    """One Azurite blob service with an account per region; a context manager that stops it."""

    regions: list[str] = field(default_factory=lambda: list(DEFAULT_REGIONS))
    location: Path | None = None
    port: int = 0
    keys: dict[str, str] = field(default_factory=dict, repr=False)
    pid: int | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_location: bool = field(default=False, repr=False)

    # -- accounts and configuration ----------------------------------------------------------

    def _ensure_keys(self) -> None:
        for region in self.regions:
            account = account_for(region)
            if account not in self.keys:
                self.keys[account] = base64.b64encode(secrets.token_bytes(32)).decode()
        for key in self.keys.values():
            register_secret(key)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``; every account is a path segment below it."""
        return f"http://127.0.0.1:{self.port}"

    def connection_string(self, region: str) -> str:
        """The connection string of the account that stands for ``region`` (contains its key)."""
        account = account_for(region)
        return (
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={self.keys[account]};"
            f"BlobEndpoint={self.endpoint}/{account};"
        )

    def region(
        self, name: str, *, container: str = CONTAINER, blob_template: str | None = None
    ) -> Region:
        """A :class:`Region` for one of this instance's accounts."""
        return Region(
            name=name,
            container=container,
            blob_template=blob_template or DEFAULT_BLOB_TEMPLATE,
            credential="connection-string",
            connection_string=self.connection_string(name),
            api_version=API_VERSION,
            emulator=True,
        )

    def config(self) -> StorageConfig:
        """A storage configuration with every region of this instance."""
        return StorageConfig(
            regions={r: self.region(r) for r in self.regions},
            source=f"embedded Azurite at {self.endpoint}",
        )

    def accounts_env(self) -> str:
        """The ``AZURITE_ACCOUNTS`` value: ``name:key;name:key``."""
        return ";".join(f"{name}:{key}" for name, key in self.keys.items())

    # -- process -----------------------------------------------------------------------------

    def start(self, *, timeout: float = 60.0, log: Path | None = None) -> Azurite:
        """Start the process and wait until it accepts connections."""
        self._ensure_keys()
        if self.location is None:
            self.location = Path(tempfile.mkdtemp(prefix="vmcert-azurite-"))
            self._owns_location = True
        self.location.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        cmd = [
            str(find_azurite()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            "--location",
            str(self.location),
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ]
        cmd += ["--debug", str(log)] if log else ["--silent"]
        env = dict(os.environ, AZURITE_ACCOUNTS=self.accounts_env())
        # stderr goes to a file, not a pipe: a detached instance (`storage up`) outlives us.
        err_path = self.location / "azurite.stderr"
        with open(err_path, "ab") as err_file:
            self._proc = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err_file,
                start_new_session=True,  # a Ctrl-C in the terminal reaches vmcert, which stops us
            )
        self.pid = self._proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = err_path.read_text(errors="replace").strip()[-300:]
                raise InfraError(f"Azurite exited at start (code {self._proc.returncode}): {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise InfraError(f"Azurite did not listen on 127.0.0.1:{self.port} within {timeout:.0f} s")

    def stop(self, *, timeout: float = 20.0, keep_data: bool = False) -> None:
        """SIGTERM, wait for exit (SIGKILL only if it hangs), then remove a temporary data dir."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        elif self.pid is not None:
            stop_pid(self.pid, timeout=timeout)
        self.pid = None
        if self._owns_location and self.location is not None and not keep_data:
            shutil.rmtree(self.location, ignore_errors=True)

    def __enter__(self) -> Azurite:
        return self.start() if self.pid is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def stop_pid(pid: int, *, timeout: float = 20.0) -> None:
    """SIGTERM a detached Azurite by pid and wait for it to go."""
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# A long-lived instance: vmcert storage up|down|status
# ---------------------------------------------------------------------------------------------


def state_dir() -> Path:
    """Where the long-lived instance keeps its state file and data (``$VMCERT_STATE_DIR``)."""
    env = os.environ.get("VMCERT_STATE_DIR")
    return Path(env) if env else Path(platformdirs.user_state_dir("vmcert"))


def state_file() -> Path:
    """The long-lived instance's state file (pid, port, location, keys; mode 0600)."""
    return state_dir() / "azurite.json"


def _write_state(instance: Azurite) -> None:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "pid": instance.pid,
        "port": instance.port,
        "location": str(instance.location),
        "regions": instance.regions,
        "keys": instance.keys,
        "version": AZURITE_VERSION,
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def running() -> Azurite | None:
    """The long-lived instance if its state file names a live process, else None."""
    path = state_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return None
    instance = Azurite(
        regions=list(data["regions"]),
        location=Path(data["location"]),
        port=int(data["port"]),
        keys=dict(data["keys"]),
        pid=pid,
    )
    instance._ensure_keys()
    return instance


def up(regions: list[str] | None = None) -> Azurite:
    """Start the long-lived instance (or return it), making sure it has every region's account.

    A missing account is added by a SIGTERM restart on the same port and data directory, which
    keeps every blob (reference P12).
    """
    wanted = list(regions or DEFAULT_REGIONS)
    current = running()
    if current is not None:
        missing = [r for r in wanted if r not in current.regions]
        if not missing:
            return current
        stop_pid(current.pid or 0)
        instance = Azurite(
            regions=current.regions + missing,
            location=current.location,
            port=current.port,
            keys=current.keys,
        )
    else:
        instance = Azurite(regions=wanted, location=state_dir() / "azurite-data")
    instance.start()
    # Detach: the process outlives this vmcert; `storage down` stops it by pid.
    instance._proc = None
    _write_state(instance)
    return instance


def down() -> bool:
    """Stop the long-lived instance; True if one was running. Its data directory is removed."""
    current = running()
    path = state_file()
    if current is None:
        path.unlink(missing_ok=True)
        return False
    stop_pid(current.pid or 0)
    if current.location is not None:
        shutil.rmtree(current.location, ignore_errors=True)
    path.unlink(missing_ok=True)
    return True
