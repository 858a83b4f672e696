"""The provisioning media: ``ovf-env.xml`` on a UDF CD, attached the way Azure attaches it.

Azure gives a new VM a CD (``/dev/sr0``) holding ``ovf-env.xml`` (and ``CustomData.bin``); the
agents mount it read-only, read the user, host name and keys, and eject it. The image built here
is an ISO 9660/UDF bridge with Azure's ``rd_rdfe_stable.*`` label and no Rock Ridge or Joliet, so
a guest without UDF support does not find ``ovf-env.xml`` (its ISO 9660 name is mangled), exactly
as on Azure, where disabled UDF is a classic provisioning failure (reference §3.2, §10).

The CD hangs off virtio-SCSI: Debian's cloud kernel has no AHCI driver, so a q35 ``-cdrom`` is
invisible to it, and cloud-init then provisions from IMDS without saying so (§14, pitfall 2).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from harness.azure_emulator.errors import EmulatorError
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.qemuopts import join_options

MEDIA_LABEL = "rd_rdfe_stable.vmcert"
"""Volume label; Azure's look like ``rd_rdfe_stable.161212-1209`` (no agent checks it)."""

MEDIA_FILE = "provisioning.iso"
CD_DEVICE_ID = "vmcert-cd0"
"""QEMU device id of the CD (QMP's ``DEVICE_TRAY_MOVED`` names it when the guest ejects)."""
SCSI_CONTROLLER_ID = "vmcert-scsi0"


def ovf_env_xml(identity: Identity, custom_data: bytes | None = None) -> str:
    """The ``ovf-env.xml`` Azure writes for a Linux VM with SSH-key-only login.

    The prefix layout follows Azure's own documents: azure-init matches the literal prefixed
    names (``wa:ProvisioningSection``), while waagent and cloud-init resolve namespaces. Every
    value is XML-escaped. No password is ever written.
    """
    custom = ""
    if custom_data:
        encoded = base64.b64encode(custom_data).decode("ascii")
        custom = f"\n      <CustomData>{encoded}</CustomData>"
    user = escape(identity.username)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" \
xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" \
xmlns:wa="http://schemas.microsoft.com/windowsazure" \
xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <wa:ProvisioningSection>
    <wa:Version>1.0</wa:Version>
    <LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure" \
xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
      <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
      <HostName>{escape(identity.hostname)}</HostName>
      <UserName>{user}</UserName>
      <DisableSshPasswordAuthentication>true</DisableSshPasswordAuthentication>
      <SSH>
        <PublicKeys>
          <PublicKey>
            <Fingerprint></Fingerprint>
            <Path>{escape(identity.authorized_keys_path)}</Path>
            <Value>{escape(identity.public_key)}</Value>
          </PublicKey>
        </PublicKeys>
      </SSH>{custom}
    </LinuxProvisioningConfigurationSet>
  </wa:ProvisioningSection>
  <wa:PlatformSettingsSection>
    <wa:Version>1.0</wa:Version>
    <PlatformSettings xmlns="http://schemas.microsoft.com/windowsazure" \
xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
      <KmsServerHostname>kms.core.windows.net</KmsServerHostname>
      <ProvisionGuestAgent>true</ProvisionGuestAgent>
      <GuestAgentPackageName i:nil="true" />
      <PreprovisionedVm>false</PreprovisionedVm>
    </PlatformSettings>
  </wa:PlatformSettingsSection>
</Environment>
"""


def _iso_tool() -> str:
    tool = shutil.which("genisoimage") or shutil.which("mkisofs")
    if tool is None:
        raise EmulatorError("genisoimage not found; install it (scripts/install.sh does)")
    return tool


def build_media(directory: Path, identity: Identity, custom_data: bytes | None = None) -> Path:
    """Write ``provisioning.iso`` into ``directory`` atomically and return its path.

    The image appears under its final name only when complete (written beside it, then
    renamed), so a crash never leaves a half-written CD that a later boot would attach.
    """
    tool = _iso_tool()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / MEDIA_FILE
    with tempfile.TemporaryDirectory(prefix=".media-", dir=directory) as scratch:
        content = Path(scratch, "content")
        content.mkdir()
        (content / "ovf-env.xml").write_text(ovf_env_xml(identity, custom_data), encoding="utf-8")
        # Ignition reads the raw custom data from here; empty when there is none (as on Azure).
        (content / "CustomData.bin").write_bytes(custom_data or b"")
        partial = Path(scratch, MEDIA_FILE)
        proc = subprocess.run(
            [
                tool,
                "-quiet",
                "-udf",
                "-iso-level",
                "3",
                "-V",
                MEDIA_LABEL,
                "-o",
                str(partial),
                str(content),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise EmulatorError(f"{tool} failed to write the provisioning media: {detail}")
        try:
            os.replace(partial, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise EmulatorError(f"cannot write {target}: {exc.strerror}") from None
    return target


def cdrom_arguments(iso: Path) -> list[str]:
    """QEMU arguments attaching ``iso`` as a read-only SCSI CD on a virtio-SCSI controller."""
    drive = join_options(
        "",
        ("file", str(iso)),
        ("format", "raw"),
        ("media", "cdrom"),
        ("if", "none"),
        ("id", "vmcert-cd0-drive"),
        ("readonly", "on"),
    )
    device = join_options(
        "scsi-cd",
        ("bus", f"{SCSI_CONTROLLER_ID}.0"),
        ("drive", "vmcert-cd0-drive"),
        ("id", CD_DEVICE_ID),
    )
    return [
        "-device",
        f"virtio-scsi-pci,id={SCSI_CONTROLLER_ID}",
        "-drive",
        drive,
        "-device",
        device,
    ]
