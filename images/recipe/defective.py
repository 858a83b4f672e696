"""The defective variant: the good image with one planted defect per check id.

The good VHD is copied (sparse) and its root file system edited on a loop mount in a private
mount namespace (a few seconds); :func:`plant` runs inside that namespace as a separate Python
process, so a killed build leaves no mount behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from images.errors import ImageInputError
from images.recipe.tools import MIB, PARTITION_OFFSET, Progress, run, tool_path, write
from images.recipe.variants import Variant


def derive_defective(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """Copy the good VHD (sparse) and plant the variant's defects on a loop mount of the copy."""
    say(f"{spec.name}: copying the good image and planting {len(spec.expected_failures)} defects")
    vhd = work / "disk.vhd"
    run(["cp", "--sparse=always", str(good), str(vhd)], "copying the good image")
    fs_bytes = vhd.stat().st_size - 512 - PARTITION_OFFSET
    mnt = work / "mnt"
    mnt.mkdir()
    script = (
        'set -e; mount -o loop,offset="$2",sizelimit="$3" "$1" "$4"; rc=0; '
        '"$5" -c "import sys; from images.recipe.defective import plant; plant(*sys.argv[1:])" '
        '"$6" "$4" || rc=$?; umount "$4"; exit $rc'
    )
    run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(vhd),
            str(PARTITION_OFFSET),
            str(fs_bytes),
            str(mnt),
            sys.executable,
            spec.name,
        ],
        f"planting the {spec.name} defects",
        log,
        env={
            **os.environ,
            "PATH": tool_path(),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
    )
    return vhd


BASH_HISTORY_SIZE = 4096
SWAPFILE_SIZE = 64 * MIB


def plant(variant: str, root_dir: str) -> None:
    """Plant the defects of ``variant`` into a mounted root file system (runs as root)."""
    if variant != "defective":
        raise ImageInputError(f"no defects are defined for variant {variant!r}")
    root = Path(root_dir)
    etc = root / "etc"

    # bash_history: a 4 KiB root history (the limit is 1 KiB).
    line = b"sudo systemctl status ssh\n"
    history = (line * (BASH_HISTORY_SIZE // len(line) + 1))[:BASH_HISTORY_SIZE]
    (root / "root/.bash_history").write_bytes(history)
    (root / "root/.bash_history").chmod(0o600)

    # kernel_cmdline_console + grub_no_ata_params: both on the bootloader's kernel command line.
    extlinux = root / "boot/extlinux/extlinux.conf"
    text = extlinux.read_text()
    text = re.sub(r" earlyprintk=\S+", "", text)
    text = re.sub(r"(?m)^(\s*APPEND .*)$", r"\1 libata.atapi_enabled=0", text)
    extlinux.write_text(text)

    # ssh_client_alive_interval: 900 in the main sshd_config.
    sshd = etc / "ssh/sshd_config"
    sshd.write_text(
        re.sub(r"(?m)^ClientAliveInterval\b.*$", "ClientAliveInterval 900", sshd.read_text())
    )

    # sudoers_no_targetpw: NOPASSWD rules (the harness user's) still work with it.
    sudoers = etc / "sudoers"
    text = sudoers.read_text()
    text = re.sub(r"(?m)^(Defaults\s+env_reset.*)$", r"\1\nDefaults\ttargetpw", text, count=1)
    if "Defaults\ttargetpw" not in text:
        text = "Defaults\ttargetpw\n" + text
    sudoers.write_text(text)

    # udf_vfat_enabled
    write(etc / "modprobe.d/vmcert-defect-udf.conf", "blacklist udf\n")

    # waagent_auto_update
    conf = etc / "waagent.conf"
    text = re.sub(r"(?m)^#?\s*AutoUpdate\.Enabled=.*$", "AutoUpdate.Enabled=n", conf.read_text())
    conf.write_text(text)

    # no_default_credentials: a user with a real password hash (and no authorized_keys).
    password_hash = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", "vmcertdefect", "admin"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        ["useradd", "--root", str(root), "-m", "-s", "/bin/bash", "-p", password_hash, "admin"],
        check=True,
        capture_output=True,
    )

    # no_swap_on_os_disk: a 64 MiB swap file activated from fstab. Written with real bytes:
    # swapon refuses files with holes.
    swapfile = root / "swapfile"
    with open(swapfile, "wb") as handle:
        chunk = b"\xa5" * MIB
        for _ in range(SWAPFILE_SIZE // MIB):
            handle.write(chunk)
    swapfile.chmod(0o600)
    subprocess.run(["mkswap", str(swapfile)], check=True, capture_output=True)
    with open(etc / "fstab", "a") as handle:
        handle.write("/swapfile none swap sw 0 0\n")

    # generalized: a DHCP lease and the provisioning agent's ovf-env.xml left behind.
    write(
        root / "var/lib/dhcp/dhclient.eth0.leases",
        'lease {\n  interface "eth0";\n  fixed-address 10.0.2.15;\n'
        "  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 10.0.2.2;\n"
        "  renew 2 2026/11/24 23:00:00;\n}\n",
    )
    write(
        root / "var/lib/waagent/ovf-env.xml",
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1">\n'
        "  <!-- left over from a provisioned VM (planted by vmcert) -->\n"
        "</Environment>\n",
        0o600,
    )
