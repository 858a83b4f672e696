"""The emulator for one boot: every service, the media, the request log and the timeline.

Usage (the QEMU platform does this around a boot)::

    identity = Identity.new(public_key_line)
    with Emulator(identity, run_dir) as emulator:
        fragments = emulator.qemu_arguments("n0", accel="tcg", hostfwd=["tcp:127.0.0.1:2222-:22"])
        ...start QEMU with them, wait...
        state = emulator.state(origin=qemu_started)
        if state.ready: ...

:meth:`Emulator.start` builds the provisioning CD, then starts the WireServer, HostGAPlugin and
IMDS servers on free ports of a loopback address (in threads of this process), the DHCP
redirector and the CD-tray watcher; all of it must be up before QEMU starts (QEMU connects to the
redirector's and the watcher's sockets at start-up). :meth:`Emulator.stop` takes it all down and
may be called any number of times, from any exit path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.azure_emulator.dhcp import (
    HOST_PLUGIN_PORT,
    IMDS_ADDRESS,
    WIRESERVER_ADDRESS,
    Forward,
    netdev_value,
)
from harness.azure_emulator.exchange import GuestRequest, Handled, Service
from harness.azure_emulator.hostgaplugin import HostGAPlugin
from harness.azure_emulator.httpserver import ServiceServer, require_loopback
from harness.azure_emulator.identity import Identity, cpu_model, smbios_arguments
from harness.azure_emulator.imds import Imds
from harness.azure_emulator.media import build_media, cdrom_arguments
from harness.azure_emulator.qemuopts import join_options
from harness.azure_emulator.redirector import DhcpRedirector
from harness.azure_emulator.requestlog import JsonValue, RequestLog, request_entry
from harness.azure_emulator.timeline import (
    Agent,
    ProvisioningState,
    Step,
    Timeline,
    agent_from_user_agent,
)
from harness.azure_emulator.trayevents import TrayWatcher
from harness.azure_emulator.wireserver import Advertised, WireServer

REQUEST_LOG = "azure-requests.jsonl"


@dataclass(frozen=True)
class Ports:
    """Host ports of the three services (0: any free port)."""

    wireserver: int = 0
    hostgaplugin: int = 0
    imds: int = 0


@dataclass(frozen=True)
class QemuArguments:
    """What a QEMU command line needs for Azure provisioning."""

    cpu: str
    """``-cpu`` value (hides the hypervisor signature)."""
    netdev: str
    """``-netdev`` value (slirp with the guest forwards and ``restrict=on``)."""
    nic: str
    """``-device`` value of the NIC, with the identity's MAC."""
    extra: list[str]
    """UUID, SMBIOS, the provisioning CD, the DHCP redirector and the event monitor."""


class Emulator:
    """Azure's provisioning endpoints for one boot (see the module documentation)."""

    def __init__(
        self,
        identity: Identity,
        run_dir: Path,
        *,
        custom_data: bytes | None = None,
        bind_host: str = "127.0.0.1",
        ports: Ports | None = None,
        advertised: Advertised | None = None,
        attach_media: bool = True,
        serve_imds: bool = True,
        dhcp_dir: Path | None = None,
    ) -> None:
        self.identity = identity
        self.run_dir = run_dir
        self.bind_host = require_loopback(bind_host)
        self.custom_data = custom_data
        self.attach_media = attach_media
        self.timeline = Timeline()
        self.request_log_path = run_dir / REQUEST_LOG
        self.media_path: Path | None = None
        self._ports = ports or Ports()
        self._dhcp_dir = dhcp_dir or run_dir
        self._services: list[Service] = [WireServer(identity, advertised), HostGAPlugin()]
        if serve_imds:
            # Without it the guest's IMDS requests go nowhere: restrict=on keeps slirp from
            # passing them to a metadata service the host can see.
            self._services.append(Imds(identity, custom_data))
        self._servers: dict[str, ServiceServer] = {}
        self._log: RequestLog | None = None
        self._redirector: DhcpRedirector | None = None
        self._tray: TrayWatcher | None = None
        self._started_at = 0.0
        self._started_wall = 0.0
        self._running = False

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Build the media and start every service; on any failure nothing stays running."""
        if self._running:
            return self
        self._running = True
        self._started_at = self.timeline.now()
        self._started_wall = time.time()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if self.attach_media:
                self.media_path = build_media(self.run_dir, self.identity, self.custom_data)
            self._log = RequestLog(self.request_log_path)
            wanted = {
                "wireserver": self._ports.wireserver,
                "hostgaplugin": self._ports.hostgaplugin,
                "imds": self._ports.imds,
            }
            for service in self._services:
                server = ServiceServer(
                    self.bind_host, wanted[service.name], service, self._on_exchange
                )
                self._servers[service.name] = server
                server.start()
            self._redirector = DhcpRedirector(self._dhcp_dir, self._on_dhcp_patch)
            self._redirector.start()
            self._tray = TrayWatcher(self.run_dir, self._on_eject)
            self._tray.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server and thread and close the request log (idempotent)."""
        self._running = False
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
        for part in (self._redirector, self._tray):
            if part is not None:
                part.stop()
        self._redirector = self._tray = None
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what the guest sees -------------------------------------------------------------------

    def port(self, service: str) -> int:
        """The host port ``service`` (``wireserver``, ``hostgaplugin``, ``imds``) listens on."""
        server = self._servers.get(service)
        if server is None:
            raise RuntimeError(f"the emulator's {service} is not running")
        return server.port

    def release(self) -> None:
        """Hand the guest over to a keeper (:mod:`.keeper`) at this process's exit: the DHCP
        redirector stops at a frame boundary and leaves QEMU's connections open."""
        if self._redirector is not None:
            self._redirector.release()

    def redirector_fds(self) -> tuple[int, int] | None:
        """QEMU's redirector connections (``out``, ``in``) for a keeper to inherit."""
        return None if self._redirector is None else self._redirector.connection_fds()

    def adopt_redirector(self, out_fd: int, in_fd: int) -> None:
        """Serve the redirector connections a keeper inherited (after :meth:`start`)."""
        if self._redirector is None:
            raise RuntimeError("start the emulator before adopting QEMU's connections")
        self._redirector.adopt(out_fd, in_fd)

    @property
    def frames_forwarded(self) -> int:
        """Frames the DHCP redirector passed to the guest."""
        return 0 if self._redirector is None else self._redirector.forwarded

    @property
    def dhcp_dir(self) -> Path:
        """The directory of the DHCP redirector's sockets (a short one for a deep run dir)."""
        if self._redirector is not None:
            return self._redirector.out_path.parent
        return self._dhcp_dir

    def forwards(self) -> list[Forward]:
        """The guest addresses and ports relayed to the running servers."""
        forwards = [
            Forward(WIRESERVER_ADDRESS, 80, self.port("wireserver")),
            Forward(WIRESERVER_ADDRESS, HOST_PLUGIN_PORT, self.port("hostgaplugin")),
        ]
        if "imds" in self._servers:
            forwards.append(Forward(IMDS_ADDRESS, 80, self.port("imds")))
        return forwards

    def qemu_arguments(
        self, netdev_id: str, *, accel: str, hostfwd: list[str] | None = None
    ) -> QemuArguments:
        """The QEMU fragments for this run (call after :meth:`start`)."""
        if self._redirector is None or self._tray is None:
            raise RuntimeError("start the emulator before building QEMU's arguments")
        extra = smbios_arguments(self.identity)
        if self.media_path is not None:
            extra += cdrom_arguments(self.media_path)
        extra += self._redirector.qemu_arguments(netdev_id)
        extra += self._tray.qemu_arguments()
        nic = join_options(
            "virtio-net-pci",
            ("netdev", netdev_id),
            ("mac", self.identity.mac),
            ("romfile", ""),  # no iPXE: no network boot attempts
        )
        return QemuArguments(
            cpu=cpu_model(accel),
            netdev=netdev_value(
                netdev_id, self.forwards(), relay_host=self.bind_host, hostfwd=hostfwd or []
            ),
            nic=nic,
            extra=extra,
        )

    @property
    def qemu_connected(self) -> bool:
        """Whether QEMU has connected to the DHCP redirector and the event monitor."""
        return bool(
            self._redirector and self._redirector.connected and self._tray and self._tray.connected
        )

    def state(self, origin: float | None = None) -> ProvisioningState:
        """What the guest did so far; times in seconds since ``origin`` (a ``time.monotonic()``
        value, e.g. QEMU's start), by default since the emulator started."""
        return self.timeline.snapshot(self._started_at if origin is None else origin)

    # -- recording -----------------------------------------------------------------------------

    def _on_exchange(self, service: str, request: GuestRequest, handled: Handled) -> None:
        agent = agent_from_user_agent(request.header("user-agent"))
        self.timeline.record(
            handled.step,
            agent,
            handled.detail,
            health=handled.health,
            ids_match=handled.ids_match,
            status=handled.status,
        )
        self._write(
            request_entry(
                at=self.timeline.now() - self._started_at,
                wall=time.time(),
                service=service,
                agent=agent,
                request=request,
                handled=handled,
            )
        )

    def _on_dhcp_patch(self, kind: str) -> None:
        self.timeline.record(Step.DHCP_OPTIONS, Agent.HOST, kind, guest_request=False)
        self._host_event("dhcp", f"options 245 and 121 added to DHCP {kind}")

    def _on_eject(self) -> None:
        self.timeline.media_ejected()
        self._host_event("cd", "the guest ejected the provisioning media")

    def _host_event(self, service: str, event: str) -> None:
        self._write(
            {
                "t": round(self.timeline.now() - self._started_at, 3),
                "wall": round(time.time(), 3),
                "service": service,
                "event": event,
            }
        )

    def _write(self, entry: Mapping[str, JsonValue]) -> None:
        log = self._log
        if log is not None:
            with contextlib.suppress(OSError, ValueError):
                log.write(entry)
