"""Who the VM is for one run, and how an Azure guest recognises that it runs on Azure.

An :class:`Identity` holds everything Azure hands a new VM: its unique id (the SMBIOS system
UUID), the container and role-instance ids the goal state names and every health report must
echo, the goal-state incarnation, the host name, the admin user and the SSH public key
provisioned for it, and the MAC of its one NIC (IMDS describes that NIC). All ids are fresh per
run: waagent skips provisioning when it finds a previous instance's state, and cloud-init keys
its first-boot behaviour on the system UUID.

:func:`smbios_arguments` and :func:`cpu_model` give the QEMU arguments that make the guest
detect Azure (reference §3.4 and §14, pitfall 1):

* cloud-init's Azure datasource looks for the chassis asset tag
  ``7783-7084-3265-9085-8269-3286-77`` (SMBIOS type 3);
* Debian's ``walinuxagent.service`` has ``ConditionVirtualization=microsoft``. systemd checks the
  CPUID hypervisor signature before DMI, so TCG's ``TCGTCGTCGTCG`` (or KVM's ``KVMKVMKVM``) must be
  hidden, and then systemd ≥ 250 recognises Hyper-V from a DMI ``product_version`` that starts
  with ``Hyper-V``; ``sys_vendor=Microsoft Corporation`` alone is not enough.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

from harness.azure_emulator.errors import IdentityError
from harness.azure_emulator.qemuopts import join_options

AZURE_CHASSIS_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
"""SMBIOS chassis asset tag of every Azure VM (cloud-init's ``ChassisAssetTag.AZURE_CLOUD``)."""

SMBIOS_MANUFACTURER = "Microsoft Corporation"
SMBIOS_PRODUCT = "Virtual Machine"
SMBIOS_VERSION = "Hyper-V UEFI Release v4.1"
"""DMI ``product_version``: its ``Hyper-V`` prefix is what systemd-detect-virt matches."""

ROLE_NAME = "vmcert"
DEFAULT_HOSTNAME = "vmcert-azure"
DEFAULT_USERNAME = "azureuser"

_USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_MAC = re.compile(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}")
_RESERVED_USERS = frozenset({"root", "admin", "administrator", "daemon", "bin", "sys", "nobody"})
_MAX_KEY_LINE = 16 * 1024


def random_mac() -> str:
    """A unicast MAC in QEMU's ``52:54:00`` range with three random bytes."""
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in secrets.token_bytes(3))


@dataclass(frozen=True)
class Identity:
    """The per-run identity of one emulated Azure VM (build it with :meth:`new`)."""

    vm_uuid: uuid.UUID
    """SMBIOS system UUID (``/sys/class/dmi/id/product_uuid``) and IMDS ``vmId``."""
    container_id: uuid.UUID
    role_guid: uuid.UUID
    deployment_id: str
    incarnation: int
    hostname: str
    username: str
    public_key: str
    """The ``authorized_keys`` line provisioned for :attr:`username`."""
    mac: str
    """The NIC's MAC, lower case with colons (``52:54:00:ab:cd:ef``)."""
    subscription_id: uuid.UUID

    @classmethod
    def new(
        cls,
        public_key: str,
        *,
        username: str = DEFAULT_USERNAME,
        hostname: str = DEFAULT_HOSTNAME,
        mac: str | None = None,
    ) -> Identity:
        """A fresh identity: new random ids; the user, key, host name and MAC validated."""
        return cls(
            vm_uuid=uuid.uuid4(),
            container_id=uuid.uuid4(),
            role_guid=uuid.uuid4(),
            deployment_id=secrets.token_hex(16),
            incarnation=1,
            hostname=validate_hostname(hostname),
            username=validate_username(username),
            public_key=validate_public_key(public_key),
            mac=validate_mac(mac) if mac is not None else random_mac(),
            subscription_id=uuid.uuid4(),
        )

    @property
    def role_instance_name(self) -> str:
        """The role instance's short name (``vmcert_IN_0``), as in SharedConfig."""
        return f"{ROLE_NAME}_IN_0"

    @property
    def role_instance_id(self) -> str:
        """The goal state's ``InstanceId`` (``<role guid>.vmcert_IN_0``)."""
        return f"{self.role_guid}.{self.role_instance_name}"

    @property
    def config_name(self) -> str:
        """The goal state's ``ConfigName`` (waagent sends it to the HostGAPlugin)."""
        guid, name = self.role_guid, self.role_instance_name
        return f"{guid}.0.{guid}.0.{name}.{self.incarnation}.xml"

    @property
    def mac_hex(self) -> str:
        """The MAC as IMDS writes it: 12 upper-case hex digits, no separators."""
        return self.mac.replace(":", "").upper()

    @property
    def authorized_keys_path(self) -> str:
        return f"/home/{self.username}/.ssh/authorized_keys"


def validate_username(name: str) -> str:
    """``name`` when Azure and Linux both accept it as the admin user name."""
    if not _USERNAME.fullmatch(name) or name in _RESERVED_USERS:
        raise IdentityError(
            f"user name {name!r} cannot be provisioned: use 1-32 lower-case letters, digits, "
            "'_' or '-', starting with a letter or '_', and not a reserved name such as root"
        )
    return name


def validate_hostname(name: str) -> str:
    """``name`` when it is one DNS label (what Azure accepts as a Linux computer name)."""
    if not _HOSTNAME.fullmatch(name):
        raise IdentityError(
            f"host name {name!r} cannot be provisioned: use 1-63 letters, digits or '-', "
            "not starting or ending with '-'"
        )
    return name


def validate_public_key(line: str) -> str:
    """``line`` when it is one OpenSSH public key line that waagent deploys (``ssh-…``)."""
    line = line.strip()
    if not line.startswith("ssh-") or len(line.split()) < 2:
        raise IdentityError(
            "the SSH public key must be one OpenSSH line starting with 'ssh-' (waagent refuses "
            "other key types, e.g. ecdsa-sha2-*)"
        )
    if len(line) > _MAX_KEY_LINE or any(ord(char) < 32 or ord(char) > 126 for char in line):
        raise IdentityError("the SSH public key line is too long or holds non-printable characters")
    return line


def validate_mac(mac: str) -> str:
    """``mac`` normalised to lower case with colons, when it is a unicast Ethernet address."""
    normal = mac.strip().lower().replace("-", ":")
    if not _MAC.fullmatch(normal) or int(normal[:2], 16) & 1:
        raise IdentityError(f"MAC address {mac!r} is not a unicast aa:bb:cc:dd:ee:ff address")
    return normal


def smbios_arguments(identity: Identity) -> list[str]:
    """QEMU arguments for the system UUID and the SMBIOS tables an Azure guest checks.

    Type 1 (system): Microsoft's manufacturer and product, and a ``Hyper-V`` product version;
    type 3 (chassis): the Azure asset tag. Firmware passes the tables through on both SeaBIOS
    (generation 1) and OVMF (generation 2).
    """
    system = join_options(
        "type=1",
        ("manufacturer", SMBIOS_MANUFACTURER),
        ("product", SMBIOS_PRODUCT),
        ("version", SMBIOS_VERSION),
    )
    chassis = join_options(
        "type=3", ("manufacturer", SMBIOS_MANUFACTURER), ("asset", AZURE_CHASSIS_ASSET_TAG)
    )
    return ["-uuid", str(identity.vm_uuid), "-smbios", system, "-smbios", chassis]


def cpu_model(accel: str) -> str:
    """The ``-cpu`` value that hides the accelerator's hypervisor signature from the guest.

    ``tcg``: ``max,tcg-cpuid=off`` (verified: the guest's systemd-detect-virt then says
    ``microsoft``). ``kvm``: ``host,kvm=off`` hides the KVM signature the same way (inferred from
    systemd's detection order, not yet run against a guest).
    """
    if accel == "tcg":
        return "max,tcg-cpuid=off"
    if accel == "kvm":
        return "host,kvm=off"
    raise ValueError(f"no CPU model for accelerator {accel!r}")
