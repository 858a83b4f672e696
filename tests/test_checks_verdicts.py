"""Known false fails and passes of issue 12, each on recorded or documented output.

Every case here failed (or passed wrongly) before the fix. The texts are in the formats the
probes print; where they are transcribed from documentation the source is named next to them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from checks.facts.waagent_conf import parse as parse_waagent
from checks.model import Status
from harness.policy import load_policy
from harness.seed import user_data
from tests.test_checks_units import run, uname

P, F, W, S = Status.PASS, Status.FAIL, Status.WARNING, Status.SKIPPED
AZURE_DMI = "sys_vendor=Microsoft Corporation\nchassis_asset_tag=7783-7084-3265-9085-8269-3286-77\n"
QEMU_DMI = "sys_vendor=QEMU\nproduct_name=Standard PC (i440FX + PIIX, 1996)\nchassis_asset_tag=\n"


def osr(distro: str, version: str, like: str = "") -> str:
    return f'ID="{distro}"\nID_LIKE="{like}"\nVERSION_ID="{version}"\n'


# --- sack_kernel_patch: vendor kernels S1's single-minor table omits -----------------------------
@pytest.mark.parametrize(
    ("os_release", "release", "status"),
    [
        # RHEL-like 8.x: 4.18 vendor kernels (RHSA-2019:1479 fixed 4.18.0-80.4.2)
        (osr("rhel", "8.6", "fedora"), "4.18.0-372.9.1.el8.x86_64", P),
        (osr("almalinux", "8.9", "rhel centos fedora"), "4.18.0-513.5.1.el8_9.x86_64", P),
        (osr("rocky", "8.8", "rhel centos fedora"), "4.18.0-477.10.1.el8_8.x86_64", P),
        (osr("ol", "8.10", "fedora"), "4.18.0-553.el8_10.x86_64", P),
        (osr("rhel", "8.0", "fedora"), "4.18.0-80.el8.x86_64", F),
        # RHEL/CentOS 7.8-7.9: 3.10 (RHSA-2019:1481 fixed 3.10.0-957.21.3)
        (osr("centos", "7", "rhel fedora"), "3.10.0-1160.el7.x86_64", P),
        (osr("rhel", "7.8", "fedora"), "3.10.0-1127.el7.x86_64", P),
        (osr("rhel", "7.9", "fedora"), "3.10.0-1160.105.1.el7.x86_64", P),
        (osr("centos", "7", "rhel fedora"), "3.10.0-957.el7.x86_64", F),
        # SLES 12 SP5: every 4.12 kernel postdates the fix
        (osr("sles", "12.5", "suse"), "4.12.14-16.163-azure", P),
        (osr("sles", "12.5", "suse"), "4.12.14-122.183-default", P),
        # Ubuntu 18.04 with the 4.15 azure kernel: the 4.15 floor, not 4.18.0-1023
        (osr("ubuntu", "18.04", "debian"), "4.15.0-1113-azure", P),
        (osr("ubuntu", "18.04", "debian"), "4.15.0-1045-azure", F),
        (osr("ubuntu", "18.04", "debian"), "4.15.0-213-generic", P),
        (osr("ubuntu", "18.04", "debian"), "4.15.0-50-generic", F),
    ],
)
def test_sack_floors_per_distribution(os_release: str, release: str, status: Status) -> None:
    result = run("sack_kernel_patch", {"uname": uname(release), "os_release": os_release})
    assert result.status is status, result.message


# --- ssh_enabled: socket activation (Ubuntu >= 22.10) ------------------------------------------
UBUNTU_2404_SSH = (  # systemctl show on Ubuntu 24.04: the service is disabled, the socket enabled
    "ssh.service enabled=disabled active=active\nsshd.service enabled= active=inactive\n"
    "ssh.socket enabled=enabled active=active\nsshd.socket enabled= active=inactive\n"
    "### listen\n0.0.0.0:22\n[::]:22\n"
)


def test_ssh_enabled_accepts_socket_activation() -> None:
    result = run("ssh_enabled", {"ssh_service": UBUNTU_2404_SSH})
    assert result.status is P and "socket-activated" in result.message


def test_ssh_enabled_fails_a_masked_socket_and_disabled_service() -> None:
    masked = UBUNTU_2404_SSH.replace("ssh.socket enabled=enabled", "ssh.socket enabled=masked")
    assert run("ssh_enabled", {"ssh_service": masked}).status is F


# --- no_swap_on_os_disk: swap on the resource disk -----------------------------------------------
BLOCK = (
    "root_source=/dev/sda1\nroot_fstype=ext4\nos_disk=sda\n### lsblk\n"
    'NAME="/dev/sda" TYPE="disk" FSTYPE="" MOUNTPOINT="" PARTTYPE=""\n'
    'NAME="/dev/sda1" TYPE="part" FSTYPE="ext4" MOUNTPOINT="/" PARTTYPE="0x83"\n'
)


def test_fstab_swap_on_the_resource_disk_is_allowed() -> None:
    # cloud-init's mounts module writes this line for swap on Azure's resource disk
    swap = (
        "### active\n### fstab\n/dev/disk/cloud/azure_resource-part2 none swap "
        "sw,nofail,x-systemd.requires=cloud-init.service,x-systemd.device-timeout=2\n"
    )
    assert run("no_swap_on_os_disk", {"block_devices": BLOCK, "swap": swap}).status is P
    on_os = "### active\n### fstab\n/dev/sda2 none swap sw\n"
    assert run("no_swap_on_os_disk", {"block_devices": BLOCK, "swap": on_os}).status is F


# --- kernel_cmdline_console: arm64 has no earlyprintk ------------------------------------------
def test_console_on_arm64_needs_no_earlyprintk() -> None:
    arm = uname("5.15.0-1051-azure", machine="aarch64")
    cmdline = "BOOT_IMAGE=/vmlinuz root=PARTUUID=1 ro console=ttyAMA0 nvme_core.io_timeout=240\n"
    result = run("kernel_cmdline_console", {"cmdline": cmdline, "uname": arm})
    assert result.status is P
    x86 = uname("5.15.0-1051-azure")
    x86_line = cmdline.replace("ttyAMA0", "ttyS0")
    assert run("kernel_cmdline_console", {"cmdline": x86_line, "uname": x86}).status is F


# --- boot_log_clean: LISA's ignore list and where LISA runs the case ----------------------------
@pytest.mark.parametrize(
    "line",
    [  # lines LISA's _error_fail_warnings_ignorable_str_list accepts
        "snapd[812]: stateengine.go:149: state ensure error: Get https://api.snapcraft.io/v2/"
        "snaps/refresh: dial tcp: lookup api.snapcraft.io: Temporary failure in name resolution",
        "snapd[812]: error trying to compare the snap system key: system-key missing on disk",
        "kdumpctl[901]: kdump: Warning: There might not be enough space to save a vmcore.",
    ],
)
def test_boot_log_ignores_what_lisa_ignores(line: str) -> None:
    facts = {"boot_journal": f"source=journal\n{line}\n", "dmi": AZURE_DMI}
    assert run("boot_log_clean", facts).status is P


def test_boot_log_fails_on_azure_and_warns_elsewhere() -> None:
    journal = "source=journal\nmyapp[1]: error: database unreachable\n"
    assert run("boot_log_clean", {"boot_journal": journal, "dmi": AZURE_DMI}).status is F
    assert run("boot_log_clean", {"boot_journal": journal, "dmi": QEMU_DMI}).status is W
    lisa = load_policy("lisa").params_for(_check("boot_log_clean"))
    assert run("boot_log_clean", {"boot_journal": journal, "dmi": QEMU_DMI}, **lisa).status is S


def _check(check_id: str) -> Any:
    from checks.registry import CHECKS, load_builtin_checks

    load_builtin_checks()
    return CHECKS.get(check_id)


# --- waagent.conf read as the agent reads it ------------------------------------------------------
@pytest.mark.parametrize(
    ("conf", "status"),
    [
        ("AutoUpdate.Enabled=n\nAutoUpdate.Enabled=y\n", P),  # the last line wins
        ("AutoUpdate.Enabled=y\nAutoUpdate.Enabled=N\n", F),  # any case
        ("AutoUpdate.Enabled=no\n", P),  # not y/n: the agent's default (enabled)
        ("AutoUpdate.Enabled=n # off\n", P),  # the agent keeps "n # off", not a switch value
        (" # AutoUpdate.Enabled=n\n", P),  # not a comment to the agent, but not this key either
        ("# AutoUpdate.Enabled=y\n", P),
        ('AutoUpdate.Enabled="n"\n', F),  # quotes stripped
    ],
)
def test_waagent_conf_is_read_as_the_agent_reads_it(conf: str, status: Status) -> None:
    assert run("waagent_auto_update", {"waagent_conf": conf}).status is status


def test_waagent_switch_semantics() -> None:
    conf = parse_waagent("Extensions.Enabled=n\nResourceDisk.Format=Y\nResourceDisk.EnableSwap=1\n")
    assert conf.switch("Extensions.Enabled", True) is False
    assert conf.switch("ResourceDisk.Format", False) is True
    assert conf.switch("ResourceDisk.EnableSwap", False) is False


def test_auto_update_severity_is_a_policy_choice() -> None:
    check = _check("waagent_auto_update")
    facts = {"waagent_conf": "AutoUpdate.Enabled=n\n", "agent_version": "package=2.9.1.1\n"}
    assert run("waagent_auto_update", facts).status is F  # marketplace default (S3/S5)
    assert run("waagent_auto_update", facts, when_disabled="warn").status is W
    lisa = dict(load_policy("lisa").params_for(check))
    assert run("waagent_auto_update", facts, **lisa).status is P  # LISA: agent ≥ 2.2.53.1
    old = dict(facts, agent_version="package=2.2.49\n")
    assert run("waagent_auto_update", old, **lisa).status is F


# --- the lisa policy follows LISA today -----------------------------------------------------------
def test_lisa_client_alive_interval_is_1_to_235() -> None:
    lisa = dict(load_policy("lisa").params_for(_check("ssh_client_alive_interval")))
    for value, status in ((235, P), (1, P), (236, F), (0, F)):
        text = f"### effective\nclientaliveinterval {value}\n### main_config\n"
        assert run("ssh_client_alive_interval", {"sshd": text}, **lisa).status is status


# --- the harness never causes a failure it then reports -------------------------------------------
def test_seed_makes_its_host_name_resolve() -> None:
    """Without it, an image whose cloud-init leaves /etc/hosts alone logs `sudo: unable to
    resolve host vmcert-guest` for the harness's own sudo calls, and boot_log_clean failed it."""
    config = json.loads(user_data("ssh-ed25519 AAAAC3Nza test").split("\n", 1)[1])
    assert config["manage_etc_hosts"] == "localhost"


# --- sshd: the effective configuration of a real connection (Match blocks) ---------------------
@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="needs OpenSSH's sshd")
def test_sshd_probe_applies_match_blocks(tmp_path: Path) -> None:
    """A Match block that changes ClientAliveInterval for outside addresses is what a customer's
    connection gets; plain ``sshd -T`` printed only the global 120."""
    from checks.facts.sshd import FACT as SSHD

    key = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = tmp_path / "sshd_config"
    config.write_text(
        "ClientAliveInterval 120\nMatch Address 198.51.100.0/24\n  ClientAliveInterval 600\n"
    )
    text = SSHD.script.replace('"$SSHD" -T', f'"$SSHD" -f {config} -h {key} -T')
    out = subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=True).stdout
    assert "clientaliveinterval 600" in out
    assert run("ssh_client_alive_interval", {"sshd": out}).status is F


# --- histories: every home on the disk; the harness's user by uid and files, never by name ------
def _history(files: str, ids: str, passwd: str, login: str = "uid=1000\nbtime=5000\n") -> str:
    return f"{files}### ids\n{ids}### passwd\n{passwd}### login\n{login}"


PASSWD = "root:0:/root:/bin/bash\nvmcert:1000:/home/vmcert:/bin/bash\n"


def test_history_in_a_home_outside_home_is_found() -> None:
    text = _history(
        "3000 postgres /var/lib/postgresql/.bash_history\n",
        "110 100 /var/lib/postgresql/.bash_history\n",
        PASSWD + "postgres:110:/var/lib/postgresql:/bin/bash\n",
    )
    assert run("bash_history", {"bash_history": text}).status is F


def test_a_shipped_history_under_the_harness_name_still_counts() -> None:
    """The image shipped /home/vmcert/.bash_history (an orphaned uid 1000 that the harness's new
    user then got): written before this boot, so it is the image's, whatever its owner's name."""
    text = _history(
        "3000 vmcert /home/vmcert/.bash_history\n", "1000 100 /home/vmcert/.bash_history\n", PASSWD
    )
    facts = {"bash_history": text, "harness_footprint": {"user": "vmcert"}}
    assert run("bash_history", facts).status is F
    fresh = text.replace("1000 100 /home", "1000 6000 /home")  # written this boot by the harness
    assert run("bash_history", dict(facts, bash_history=fresh)).status is P


def test_lisa_fails_any_non_empty_shell_history_of_a_shell_user() -> None:
    lisa = dict(load_policy("lisa").params_for(_check("bash_history")))
    zsh = _history(
        "12 alice /home/alice/.zsh_history\n",
        "1001 100 /home/alice/.zsh_history\n",
        PASSWD + "alice:1001:/home/alice:/usr/bin/zsh\n",
    )
    assert run("bash_history", {"bash_history": zsh}, **lisa).status is F
    assert run("bash_history", {"bash_history": zsh}).status is P  # marketplace: .bash_history
    nologin = zsh.replace("/usr/bin/zsh", "/usr/sbin/nologin")
    assert run("bash_history", {"bash_history": nologin}, **lisa).status is P
