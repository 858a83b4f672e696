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
        ("AutoUpdate.Enabled=n # off\n", F),  # conf.py drops an end-of-line comment (2.2.19+)
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


def test_harness_sudo_unresolved_host_name_is_not_the_images() -> None:
    """Under ``--provision azure`` waagent sets the host name from ovf-env.xml; Azure's DNS would
    resolve it, the local emulation has none, so the harness's own sudo logs `unable to resolve
    host`. That line (recorded from the waagent test image) is the harness's; the same line for
    another user is the image's."""
    harness = "vmcert-azure sudo[450]: azureuser : unable to resolve host vmcert-azure: "
    harness += "Temporary failure in name resolution"
    journal = f"source=journal\n{harness}\n"
    footprint = {"user": "azureuser", "added": "user azureuser (provisioned)"}
    facts = {"boot_journal": journal, "dmi": AZURE_DMI, "harness_footprint": footprint}
    result = run("boot_log_clean", facts)
    assert result.status is P and "1 ignored" in result.message
    # without knowing the harness's user, or for someone else's sudo, it counts
    assert run("boot_log_clean", {"boot_journal": journal, "dmi": AZURE_DMI}).status is F
    other = journal.replace("azureuser :", "backup :")
    assert run("boot_log_clean", {**facts, "boot_journal": other}).status is F


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


# --- the agent: installed, enabled, extensions not disabled ---------------------------------------
@pytest.mark.parametrize(
    ("service", "conf", "status"),
    [
        ("walinuxagent.service enabled=enabled active=active\n", "# Extensions.Enabled=y\n", P),
        ("walinuxagent.service enabled=masked active=inactive\n", "", F),
        ("waagent.service enabled=disabled active=inactive\n", "", F),
        ("", "", F),  # no unit at all
        ("waagent.service enabled=enabled active=active\n", "Extensions.Enabled=n\n", F),
        ("waagent.service enabled=enabled active=active\n", "Extensions.Enabled=N\n", F),
        ("waagent.service enabled=enabled active=active\n", "Extensions.Enabled=off\n", P),
    ],
)
def test_agent_enabled_and_handling_extensions(service: str, conf: str, status: Status) -> None:
    facts = {"agent_version": "package=2.9.1.1\n", "agent_service": service, "waagent_conf": conf}
    assert run("linux_agent_enabled", facts).status is status
    assert run("linux_agent_enabled", dict(facts, agent_version="")).status is F


def test_agent_service_probe_on_systemctl_show(tmp_path: Path) -> None:
    """``systemctl show`` as systemd 252 prints it for a masked and a missing unit."""
    from checks.facts.agent_service import FACT as AGENT_SERVICE
    from checks.facts.agent_service import parse as parse_service

    systemctl = tmp_path / "systemctl"
    systemctl.write_text(
        "#!/bin/sh\nprintf 'Id=walinuxagent.service\\nLoadState=masked\\nActiveState=inactive\\n"
        "UnitFileState=masked\\n\\nId=waagent.service\\nLoadState=not-found\\n"
        "ActiveState=inactive\\nUnitFileState=\\n'\n"
    )
    systemctl.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = subprocess.run(
        ["sh", "-c", AGENT_SERVICE.script], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out == "walinuxagent.service enabled=masked active=inactive\n"
    assert parse_service(out).enabled == ()


# --- sudoers: what sudo reads, in its order -------------------------------------------------------
def test_sudoers_follows_sudo_include_rules(tmp_path: Path) -> None:
    from checks.facts.sudoers import FACT as SUDOERS

    (tmp_path / "sudoers.d").mkdir()
    (tmp_path / "sudoers").write_text("Defaults env_reset\n@includedir sudoers.d\n")
    (tmp_path / "sudoers.d" / "50-app.bak").write_text("Defaults targetpw\n")  # sudo skips it
    (tmp_path / "sudoers.d" / "60-site").write_text("@include ../site\n")
    (tmp_path / "site").write_text("Defaults:alice targetpw\n")  # included two levels down
    text = SUDOERS.script.replace("/etc/sudoers 0", f"{tmp_path}/sudoers 0")

    def verdict() -> Status:
        out = subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=True)
        return Status(run("sudoers_no_targetpw", {"sudoers": out.stdout}).status)

    assert verdict() is F
    (tmp_path / "site").write_text("Defaults:alice targetpw\nDefaults:alice !targetpw\n")
    assert verdict() is P  # the later line wins
    (tmp_path / "sudoers").write_text("Defaults env_reset\n")  # no includedir: nothing else read
    (tmp_path / "site").write_text("Defaults targetpw\n")
    assert verdict() is P


# --- modprobe: every source, and install commands that do not load -------------------------------
@pytest.mark.parametrize(
    ("lines", "cmdline", "status"),
    [
        ("", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 modprobe.blacklist=floppy,udf\n", F),
        ("", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 module_blacklist=vfat\n", F),
        ("", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 modprobe.blacklist=floppy\n", P),
        ("/etc/modprobe.d/cis.conf:install udf /bin/echo disabled\n", "", F),
        ("/etc/modprobe.d/cis.conf:install udf exit 0\n", "", F),
        ("/etc/modprobe.d/x.conf:install vfat /sbin/modprobe --ignore-install vfat\n", "", P),
        ("/etc/modprobe.d/x.conf:install udf /sbin/modprobe -i udf && echo ok\n", "", P),
    ],
)
def test_udf_vfat_every_modprobe_source(lines: str, cmdline: str, status: Status) -> None:
    facts = {"modprobe_blacklist": lines, "cmdline": cmdline or "BOOT_IMAGE=/vmlinuz\n"}
    assert run("udf_vfat_enabled", facts).status is status


def test_modprobe_probe_reads_one_file_per_name(tmp_path: Path) -> None:
    """/etc/modprobe.d/x.conf shadows /usr/lib/modprobe.d/x.conf, as modprobe reads them."""
    from checks.facts.modprobe_blacklist import FACT as MODPROBE

    (tmp_path / "etc").mkdir()
    (tmp_path / "usr").mkdir()
    (tmp_path / "etc" / "cis.conf").write_text("# udf allowed here\n")
    (tmp_path / "usr" / "cis.conf").write_text("install udf /bin/true\n")
    (tmp_path / "usr" / "other.conf").write_text("blacklist vfat\n")
    text = MODPROBE.script.replace("/etc/modprobe.d ", f"{tmp_path}/etc ").replace(
        '/usr/lib/modprobe.d"', f'{tmp_path}/usr"', 1
    )
    out = subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=True).stdout
    assert out == f"{tmp_path}/usr/other.conf:blacklist vfat\n"


# --- keys: every AuthorizedKeysFile of every home; the harness's key by uid and files ------------
def _accounts(keys: str, ids: str, login: str) -> str:
    return (
        f"### shadow\nroot locked\n### authorized_keys\n{keys}### key_ids\n{ids}### login\n{login}"
    )


HARNESS_LOGIN = "uid=1000\nuser=vmcert\nhome=/home/vmcert\nbtime=5000\n"


def test_harness_key_is_recognised_by_uid_home_and_boot() -> None:
    text = _accounts(
        "/home/vmcert/.ssh/authorized_keys vmcert key\n",
        "1000 6000 /home/vmcert/.ssh/authorized_keys\n",
        HARNESS_LOGIN,
    )
    assert run("no_default_credentials", {"accounts": text}).status is P
    shipped = text.replace("1000 6000", "1000 100")  # written before this boot: the image's
    assert run("no_default_credentials", {"accounts": shipped}).status is F


def test_keys_outside_home_and_in_custom_key_files_count() -> None:
    text = _accounts(
        "/var/lib/app/.ssh/authorized_keys app key\n/etc/ssh/keys/deploy deploy key\n",
        "998 100 /var/lib/app/.ssh/authorized_keys\n0 100 /etc/ssh/keys/deploy\n",
        HARNESS_LOGIN,
    )
    result = run("no_default_credentials", {"accounts": text})
    assert result.status is F and "/etc/ssh/keys/deploy" in result.evidence


def test_accounts_probe_expands_authorized_keys_file_for_every_home(tmp_path: Path) -> None:
    from checks.facts.accounts import FACT as ACCOUNTS

    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "app").write_text("ssh-ed25519 AAAA app\n")
    (tmp_path / "srv").mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text(f"app:x:998:998::{tmp_path}/srv:/bin/sh\n")
    text = (
        ACCOUNTS.script.replace("</etc/passwd", f"<{passwd}")
        .replace("-r /etc/passwd", f"-r {passwd}")
        .replace('[ -n "$akf" ] && [', f"akf='{tmp_path}/keys/%u'\n[ -n \"$akf\" ] && [")
    )
    out = subprocess.run(["sh", "-c", text], capture_output=True, text=True).stdout
    assert f"{tmp_path}/keys/app " in out and " key\n" in out


# --- LISA cases vmcert lacked ------------------------------------------------------------------
AZL3 = 'NAME="Microsoft Azure Linux"\nVERSION="3.0.20240824"\nID=azurelinux\nVERSION_ID="3.0"\n'
DEB12_OS = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'


def test_cloud_init_error_status_on_azure_linux_only() -> None:
    clean = "status_rc=0\nstatus: done\n### log\n"
    warned = clean + "2024-08-30 06:40:02,114 - cc_mounts.py[WARNING]: Activate mounts: FAIL\n"
    failed = "status_rc=1\nstatus: error\n### log\n"
    assert (
        run("cloud_init_error_status", {"cloud_init_status": clean, "os_release": AZL3}).status is P
    )
    for text in (warned, failed):
        facts = {"cloud_init_status": text, "os_release": AZL3}
        assert run("cloud_init_error_status", facts).status is F
    facts = {"cloud_init_status": warned, "os_release": DEB12_OS}
    assert run("cloud_init_error_status", facts).status is S  # LISA runs it on Azure Linux only


@pytest.mark.parametrize(
    ("config", "status"),
    [
        ("source=/boot/config-6.1\nCONFIG_WATCHDOG=y\nCONFIG_CIFS=m\n", P),
        ("source=/boot/config-6.1\nCONFIG_WATCHDOG=y\n# CONFIG_CIFS is not set\n", F),
        ("source=/boot/config-6.1\nCONFIG_CIFS=m\n", F),
    ],
)
def test_essential_kernel_modules(config: str, status: Status) -> None:
    assert run("essential_kernel_modules", {"kernel_config": config}).status is status


@pytest.mark.parametrize(
    ("text", "status"),
    [  # the three forms LISA's _omi_version_pattern documents
        ("", P),
        ("OMI-1.9.1-0 - Wed Aug 28 23:16:27 PDT 2024\n", P),
        ("omi 1.6.8.1\n", P),
        ("omi-1.6.8-0.x86_64\n", F),
        ("omi garbled\n", F),
    ],
)
def test_omi_version(text: str, status: Status) -> None:
    assert run("omi_version", {"omi": text}).status is status


def test_hv_kvp_daemon_required_on_azure_linux() -> None:
    present = "binary=/usr/sbin/hv_kvp_daemon\nunit=hv_kvp_daemon.service enabled\n"
    assert run("hv_kvp_daemon", {"hv_kvp": present, "os_release": AZL3}).status is P
    assert run("hv_kvp_daemon", {"hv_kvp": "", "os_release": AZL3}).status is F
    assert run("hv_kvp_daemon", {"hv_kvp": "", "os_release": DEB12_OS}).status is P


def test_an_existing_hosts_login_user_keeps_its_own_key() -> None:
    """``--platform ssh``: the login user is the deploy user; its older key is not the image's."""
    text = _accounts(
        "/home/vmcert/.ssh/authorized_keys vmcert key\n",
        "1000 100 /home/vmcert/.ssh/authorized_keys\n",
        HARNESS_LOGIN,
    )
    deploy = {
        "user": "vmcert",
        "added": "none added; the harness logs in as vmcert",
        "login_is_deploy_user": True,
    }
    assert (
        run("no_default_credentials", {"accounts": text, "harness_footprint": deploy}).status is P
    )
    # the platform's typed field decides, not the words of `added`
    worded = dict(deploy, login_is_deploy_user=False)
    assert (
        run("no_default_credentials", {"accounts": text, "harness_footprint": worded}).status is F
    )
    created = {"user": "vmcert", "added": "user vmcert created by cloud-init"}
    assert (
        run("no_default_credentials", {"accounts": text, "harness_footprint": created}).status is F
    )


def test_lisa_repository_mirrors() -> None:
    lisa = dict(load_policy("lisa").params_for(_check("repos_configured")))
    u2204 = 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\n'

    def sources(host: str) -> str:
        return (
            "### /etc/apt/sources.list\n"
            f"deb http://{host}/ubuntu/ jammy main\n"
            f"deb http://{host}/ubuntu/ jammy-updates main\n"
            f"deb http://{host}/ubuntu/ jammy-security main\n"
        )

    azure = {"repos": sources("azure.archive.ubuntu.com"), "os_release": u2204}
    other = {"repos": sources("mirror.example.net"), "os_release": u2204}
    assert run("repos_configured", azure, **lisa).status is P
    assert run("repos_configured", other, **lisa).status is W
    assert run("repos_configured", other).status is P  # marketplace: any mirror
