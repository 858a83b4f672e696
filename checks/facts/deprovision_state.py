"""The ``deprovision_state`` fact: the boot time and the timestamps of deprovisioning leftovers
(SSH host keys, DHCP leases, agent files, cloud-init instances, resolv.conf)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import key_values, sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class Stamped:
    """A file and its modification time (epoch seconds)."""

    mtime: int
    path: str


@dataclass(frozen=True)
class CloudInstance:
    """A cloud-init instance directory."""

    birth: str
    """Its birth time as ``stat %W`` prints it (``0`` or ``-`` when unknown)."""
    current: bool
    """Whether /var/lib/cloud/instance points at it (the instance of this boot)."""
    path: str


@dataclass(frozen=True)
class DeprovisionState:
    """Everything that would show the image was captured without deprovisioning."""

    btime: int
    """Kernel boot time (epoch seconds; 0 when unknown)."""
    host_keys: tuple[Stamped, ...] = ()
    dhcp_leases: tuple[Stamped, ...] = ()
    waagent: tuple[Stamped, ...] = ()
    """Files under /var/lib/waagent (the first 50)."""
    cloud_instances: tuple[CloudInstance, ...] = ()
    resolv_conf: str = ""
    """``absent``, ``symlink TARGET`` or ``file MTIME``."""
    machine_id: tuple[Stamped, ...] = ()
    """/etc/machine-id when it holds an id (none: empty or ``uninitialized``, first boot fills
    it)."""
    provisioning_logs: tuple[Stamped, ...] = ()
    """waagent.log and cloud-init's logs by **birth** time (``stat %W``; 0: unknown): first
    boot appends to a shipped log, so only its birth shows it predates the boot."""

    @property
    def resolv_conf_mtime(self) -> int | None:
        """The modification time of a regular /etc/resolv.conf (None otherwise)."""
        words = self.resolv_conf.split()
        if len(words) == 2 and words[0] == "file" and words[1].isdigit():
            return int(words[1])
        return None


def _stamped(body: str | None) -> tuple[Stamped, ...]:
    out = []
    for line in (body or "").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].lstrip("-").isdigit():
            out.append(Stamped(int(parts[0]), parts[1]))
    return tuple(out)


def parse(text: str) -> DeprovisionState:
    """``btime=`` before the sections, then ``MTIME PATH`` lines per section, ``BIRTH
    current|other PATH`` for cloud instances and one resolv.conf line."""
    secs = sections(text)
    instances = []
    for line in (secs.get("cloud_instances") or "").splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            instances.append(CloudInstance(parts[0], parts[1] != "other", parts[2]))
    return DeprovisionState(
        btime=int(key_values(text.split("###", 1)[0]).get("btime", "0") or 0),
        host_keys=_stamped(secs.get("host_keys")),
        dhcp_leases=_stamped(secs.get("dhcp_leases")),
        waagent=_stamped(secs.get("waagent")),
        cloud_instances=tuple(instances),
        resolv_conf=(secs.get("resolv_conf") or "").strip(),
        machine_id=_stamped(secs.get("machine_id")),
        provisioning_logs=_stamped(secs.get("provisioning_logs")),
    )


_LEASE_DIRS = (
    "/var/lib/dhcp",
    "/var/lib/dhclient",
    "/var/lib/dhcpcd",
    "/var/lib/dhcpcd5",
    "/var/lib/NetworkManager",
    "/var/lib/wicked",
)


_LOGS = ("/var/log/waagent.log", "/var/log/cloud-init.log", "/var/log/cloud-init-output.log")


def read_offline(image: OfflineImage) -> str:
    """The leftovers ``deprovision_state.sh`` looks for, as the image ships them.

    ``btime`` is the time of the reading: everything in the image predates any boot of it. No
    cloud-init instance is ``current`` (no boot has happened), so an instance directory in the
    image is always a leftover of the machine it was captured from."""

    def mtime(path: str) -> int | None:
        found = image.stat(path, follow=False)  # stat without -L
        return None if found is None else (found.mtime or 0)

    def stamped(paths: list[str]) -> list[str]:
        return [f"{m} {p}" for p in paths if (m := mtime(p)) is not None]

    host_keys = [p for p in image.glob("/etc/ssh/ssh_host_*key") if image.exists(p)]
    leases: list[str] = []
    for directory in _LEASE_DIRS:
        if not image.is_dir(directory):
            continue
        for path in [*image.glob(f"{directory}/*"), *image.glob(f"{directory}/.*")]:
            name = path.rsplit("/", 1)[1]
            lease = "lease" in name or name.endswith(".info")
            if lease and image.is_file(path) and not image.is_link(path):
                leases.append(path)
    agent = (
        list(image.walk_files("/var/lib/waagent", 50)) if image.is_dir("/var/lib/waagent") else []
    )
    instances = [p for p in image.glob("/var/lib/cloud/instances/*") if image.is_dir(p)]
    if image.is_link("/etc/resolv.conf"):
        resolv = f"symlink {image.read_link('/etc/resolv.conf')}"
    elif image.exists("/etc/resolv.conf"):
        resolv = f"file {mtime('/etc/resolv.conf')}"
    else:
        resolv = "absent"
    machine_id = []
    if image.is_file("/etc/machine-id") and not image.is_link("/etc/machine-id"):
        lines = image.lines("/etc/machine-id")
        if lines and lines[0].strip(" \t") not in ("", "uninitialized"):
            machine_id = stamped(["/etc/machine-id"])
    # no birth time offline: the mtime (at least 1) stands for it, as everything predates a boot
    logs = [f"{mtime(p) or 1} {p}" for p in _LOGS if image.is_file(p)]
    out = [
        f"btime={image.now}",
        "### host_keys",
        *stamped(host_keys),
        "### dhcp_leases",
        *stamped(leases),
        "### waagent",
        *stamped(agent),
        "### cloud_instances",
        *(f"0 other {p}" for p in instances),
        "### resolv_conf",
        resolv,
        *(["### machine_id", *machine_id] if machine_id else []),
        *(["### provisioning_logs", *logs] if logs else []),
    ]
    return "\n".join(out) + "\n"


FACT = fact(
    "deprovision_state",
    parse,
    needs_root=True,
    description="timestamps of deprovisioning leftovers (host keys, leases, waagent, cloud-init)",
    offline=read_offline,
    shipped=True,
    offline_note="presence alone: everything the image ships predates its first boot",
)
