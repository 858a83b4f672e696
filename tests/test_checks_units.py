"""Targeted evaluate tests: the edges each check must get right (both verdicts)."""

from __future__ import annotations

from typing import Any

import pytest

from checks.areas.disk_online import merge
from checks.fact import Facts
from checks.facts.harness_footprint import FACT as HARNESS_FOOTPRINT
from checks.facts.harness_footprint import HarnessFootprint
from checks.model import Outcome, Status
from checks.registry import CHECKS, load_builtin_checks

P, F, W, S, E = Status.PASS, Status.FAIL, Status.WARNING, Status.SKIPPED, Status.ERROR

DEB12 = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
DEB10 = 'ID=debian\nVERSION_ID="10"\nVERSION_CODENAME=buster\n'
U1804 = 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="18.04"\nVERSION_CODENAME=bionic\n'
RHEL76 = 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="7.6"\n'
RHEL6 = 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="6.5"\n'
SLES15 = 'ID="sles"\nID_LIKE="suse"\nVERSION_ID="15"\n'
CENTOS7 = 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n'
AZURE = "chassis_asset_tag=7783-7084-3265-9085-8269-3286-77\n"  # the dmi fact of an Azure VM


def as_facts(recorded: dict[str, Any]) -> Facts:
    """Probe texts (and a ``harness_footprint`` dict) as the checks receive them."""
    texts = {name: text for name, text in recorded.items() if name != "harness_footprint"}
    facts = Facts.from_texts(texts, source="recorded")
    if "harness_footprint" in recorded:
        footprint = HarnessFootprint(**recorded["harness_footprint"])
        facts = facts.with_value(HARNESS_FOOTPRINT, footprint, "recorded")
    return facts


def run(check_id: str, facts: dict[str, Any], **params: Any) -> Any:
    load_builtin_checks()
    return CHECKS.get(check_id).run(as_facts(facts), params)


def uname(release: str, version: str = "#1 SMP", machine: str = "x86_64") -> str:
    return f"machine={machine}\nrelease={release}\nversion={version}\nbtime=100\nnow=200\n"


@pytest.mark.parametrize(
    ("text", "status", "actual"),
    [
        ("package=2.7.3.0-4.1\n", P, "2.7.3.0"),
        ("package=2.2.40-0ubuntu1\n", F, "2.2.40"),
        ("package=2.2.41\n", P, "2.2.41"),
        ("WALinuxAgent-2.9.1.1 running on ubuntu 22.04\nPython: 3.10.12\n", P, "2.9.1.1"),
        ("", F, "not installed"),
    ],
)
def test_linux_agent_version(text: str, status: Status, actual: str) -> None:
    result = run("linux_agent_version", {"agent_version": text})
    assert (result.status, result.actual) == (status, actual)


def test_agent_min_version_is_a_policy_param() -> None:
    result = run("linux_agent_version", {"agent_version": "package=2.2.20\n"}, min_version="2.2.10")
    assert result.status is P and result.required == "WALinuxAgent ≥ 2.2.10"


@pytest.mark.parametrize(
    ("os_release", "release", "version", "status"),
    [
        (U1804, "4.18.0-1023-azure", "#24~18.04.1-Ubuntu", P),
        (U1804, "4.18.0-1020-azure", "#20~18.04.1-Ubuntu", F),
        (U1804, "5.0.0-1025-azure", "#27~18.04.1-Ubuntu", P),
        (U1804, "5.0.0-1024-azure", "#26~18.04.1-Ubuntu", F),
        (RHEL76, "3.10.0-957.21.3.el7.x86_64", "#1 SMP", P),
        (RHEL76, "3.10.0-957.12.2.el7.x86_64", "#1 SMP", F),
        (SLES15, "4.12.14-5.30.1-azure", "#1 SMP", P),
        (SLES15, "4.12.14-5.24-azure", "#1 SMP", F),
        (DEB10, "4.19.0-5-cloud-amd64", "#1 SMP Debian 4.19.37-5+deb10u1 (2019-07-19)", P),
        (DEB10, "4.19.0-4-cloud-amd64", "#1 SMP Debian 4.19.28-2 (2019-03-15)", F),
        (DEB12, "6.1.0-28-cloud-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1", P),
        ('ID=alpine\nVERSION_ID="3.9"\n', "4.14.130-0-virt", "#1-Alpine", P),
        ('ID=alpine\nVERSION_ID="3.9"\n', "4.14.100-0-virt", "#1-Alpine", F),
    ],
)
def test_sack_kernel_patch(os_release: str, release: str, version: str, status: Status) -> None:
    facts = {"uname": uname(release, version), "os_release": os_release}
    assert run("sack_kernel_patch", facts).status is status


@pytest.mark.parametrize(
    ("os_release", "release", "cmdline", "status"),
    [
        (RHEL6, "2.6.32-431.el6.x86_64", "ro root=/dev/sda1", F),
        (RHEL6, "2.6.32-431.el6.x86_64", "ro root=/dev/sda1 numa=off", P),
        (RHEL6, "2.6.32-504.el6.x86_64", "ro root=/dev/sda1", P),
        ("ID=gentoo\n", "2.6.36", "ro", F),
        (DEB12, "6.1.0-28-cloud-amd64", "ro", P),
    ],
)
def test_numa_off_old_kernels(os_release: str, release: str, cmdline: str, status: Status) -> None:
    facts = {"uname": uname(release), "cmdline": cmdline, "os_release": os_release}
    assert run("numa_off_old_kernels", facts).status is status


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("OpenSSL 3.0.15 3 Sep 2024 (Library: OpenSSL 3.0.15 3 Sep 2024)\n", P),
        ("OpenSSL 1.0.2k-fips  26 Jan 2017\n", P),
        ("OpenSSL 0.9.7m 23 Feb 2007\n", F),
        ("sh: 1: openssl: not found\nabsent\n", F),
    ],
)
def test_openssl_version(text: str, status: Status) -> None:
    assert run("openssl_version", {"openssl": text}).status is status


def test_openssl_one_zero_under_a_stricter_policy() -> None:
    facts = {"openssl": "OpenSSL 0.9.8zh 3 Dec 2015\n"}
    assert run("openssl_version", facts).status is P
    assert run("openssl_version", facts, min_version="1.0").status is F


@pytest.mark.parametrize(
    ("text", "status"),
    [("Python 3.11.2\n", P), ("Python 2.7.18\n", P), ("Python 2.4.3\n", W), ("absent\n", W)],
)
def test_python_version(text: str, status: Status) -> None:
    assert run("python_version", {"python": text}).status is status


@pytest.mark.parametrize(
    ("os_release", "glibc", "status"),
    [
        (DEB12, "glibc 2.36\npackage=2.36-9+deb12u9\n", P),
        (CENTOS7, "glibc 2.17\npackage=2.17-55.el7_0.5\n", P),
        (CENTOS7, "glibc 2.17\npackage=2.17-55.el7_0.1\n", W),
        (RHEL6, "glibc 2.12\npackage=2.12-1.149.el6_6.5\n", P),
        ('ID=slackware\nVERSION_ID="14.1"\n', "glibc 2.17\n", W),
    ],
)
def test_security_threats_ghost(os_release: str, glibc: str, status: Status) -> None:
    result = run("security_threats", {"glibc": glibc, "os_release": os_release})
    assert result.status is status


@pytest.mark.parametrize(
    ("machine", "status"), [("x86_64", P), ("aarch64", P), ("i686", F), ("armv7l", F)]
)
def test_os_arch_64bit(machine: str, status: Status) -> None:
    assert run("os_arch_64bit", {"uname": uname("6.1.0", machine=machine)}).status is status


def test_console_on_arm64_expects_ttyama0() -> None:
    facts = {
        "uname": uname("6.1.0", machine="aarch64"),
        "cmdline": "console=ttyAMA0 earlyprintk=ttyAMA0",
    }
    assert run("kernel_cmdline_console", facts).status is P
    facts["cmdline"] = "console=ttyS0 earlyprintk=ttyS0"
    assert run("kernel_cmdline_console", facts).status is F


def test_console_rejects_other_serial_ports() -> None:
    facts = {"cmdline": "console=ttyS1 earlyprintk=ttyS0"}
    result = run("kernel_cmdline_console", facts)
    assert result.status is F and result.message == "Missing Parameter: console=ttyS0"


@pytest.mark.parametrize(
    ("repos", "status"),
    [
        (
            "### /etc/apt/sources.list\ndeb http://m.example/debian bookworm main\n"
            "deb http://m.example/debian bookworm-updates main\n",
            W,
        ),
        (
            "### /etc/apt/sources.list\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n"
            "deb [arch=amd64] http://m.example/debian bookworm-updates main\n"
            "deb http://s.example/debian-security bookworm-security main\n",
            P,
        ),
        (
            "### /etc/apt/sources.list\ndeb http://m.example/debian buster main\n"
            "deb http://m.example/debian buster-updates main\n"
            "deb http://s.example/debian-security buster/updates main\n",
            P,
        ),
        ("", W),
    ],
)
def test_repos_debian(repos: str, status: Status) -> None:
    os_release = DEB10 if "buster" in repos else DEB12
    assert run("repos_configured", {"repos": repos, "os_release": os_release}).status is status


def test_repos_accepted_hosts_policy() -> None:
    repos = (
        "### /etc/apt/sources.list.d/debian.sources\nTypes: deb\nURIs: http://m.example/debian\n"
        "Suites: bookworm bookworm-updates\nTypes: deb\nURIs: http://s.example/debian-security\n"
        "Suites: bookworm-security\n"
    )
    facts = {"repos": repos, "os_release": DEB12}
    assert run("repos_configured", facts).status is P
    assert run("repos_configured", facts, accepted_hosts=["m.example", "s.example"]).status is P
    result = run("repos_configured", facts, accepted_hosts=["m.example"])
    assert result.status is W and "s.example" in result.message


def test_rhel8_needs_baseos_and_appstream() -> None:
    repos = "### /etc/yum.repos.d/a.repo\n[baseos]\nname=BaseOS\nenabled=1\n"
    facts = {"repos": repos, "os_release": 'ID="rhel"\nVERSION_ID="8.6"\n'}
    result = run("repos_configured", facts)
    assert result.status is W and "appstream" in result.message


@pytest.mark.parametrize(
    ("shadow", "keys", "status"),
    [
        ("root locked\nvmcert locked\n", "/home/vmcert/.ssh/authorized_keys vmcert key\n", P),
        ("root locked\nadmin hash\n", "", F),
        ("root locked\n", "/root/.ssh/authorized_keys root key\n", F),
        ("root locked\n", "/root/.ssh/authorized_keys root stub\n", P),
        ("root empty\n", "", P),
    ],
)
def test_no_default_credentials_excludes_the_harness_user(
    shadow: str, keys: str, status: Status
) -> None:
    facts = {
        "accounts": f"### shadow\n{shadow}### authorized_keys\n{keys}",
        "harness_footprint": {"user": "vmcert"},
    }
    result = run("no_default_credentials", facts)
    assert result.status is status
    if status is P:
        assert "vmcert" in result.message


def test_bash_history_of_the_harness_user_is_not_counted() -> None:
    # the harness's login is the uid the probe ran for (its files: in its home, of this boot)
    text = (
        "4000 vmcert /home/vmcert/.bash_history\n### ids\n1001 2000 /home/vmcert/.bash_history\n"
        "### passwd\nvmcert:1001:/home/vmcert:/bin/bash\n### login\nuid=1001\nbtime=1000\n"
    )
    facts = {"bash_history": text, "harness_footprint": {"user": "vmcert"}}
    assert run("bash_history", facts).status is P
    facts["bash_history"] = text.replace("uid=1001", "uid=0")
    assert run("bash_history", facts).status is F


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("/etc/sudoers:10:Defaults targetpw", F),
        ("/etc/sudoers.d/x:1:Defaults\ttargetpw", F),
        ("/etc/sudoers:10:Defaults env_reset,targetpw", F),
        ("/etc/sudoers:10:Defaults !targetpw", P),
        ("/etc/sudoers:10:Defaults:admin !targetpw # no", P),
        ("", P),
    ],
)
def test_sudoers_no_targetpw(line: str, status: Status) -> None:
    assert run("sudoers_no_targetpw", {"sudoers": line}).status is status


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ("/etc/modprobe.d/x.conf:blacklist udf\n", F),
        ("/etc/modprobe.d/x.conf:install vfat /bin/false\n", F),
        ("/etc/modprobe.d/x.conf:install udf /sbin/modprobe --ignore-install udf\n", P),
        ("", P),
    ],
)
def test_udf_vfat(lines: str, status: Status) -> None:
    assert run("udf_vfat_enabled", {"modprobe_blacklist": lines}).status is status


@pytest.mark.parametrize(
    ("conf", "status"),
    [
        ("# AutoUpdate.Enabled=y\n", P),
        ("AutoUpdate.Enabled=n\n", F),
        ("# AutoUpdate.Enabled=n\n", P),
        ("AutoUpdate.Enabled=y\n", P),
        ("absent\n", S),
    ],
)
def test_waagent_auto_update(conf: str, status: Status) -> None:
    assert run("waagent_auto_update", {"waagent_conf": conf}).status is status


def test_resource_disk_swap_config_waagent_provisioning() -> None:
    conf = "Provisioning.Agent=waagent\nResourceDisk.Format=y\nResourceDisk.EnableSwap=y\n"
    assert run("resource_disk_swap_config", {"waagent_conf": conf}).status is W
    conf += "ResourceDisk.SwapSizeMB=2048\n"
    assert run("resource_disk_swap_config", {"waagent_conf": conf}).status is P


def test_hyperv_initramfs_debian_listing() -> None:
    text = (
        "release=6.1.0-28-cloud-amd64\n### builtin\n### initramfs\n"
        "image=/boot/initrd.img-6.1.0-28-cloud-amd64\n"
        "usr/lib/modules/6.1.0-28-cloud-amd64/kernel/drivers/hv/hv_vmbus.ko\n"
        "usr/lib/modules/6.1.0-28-cloud-amd64/kernel/drivers/scsi/hv_storvsc.ko\n"
    )
    assert run("hyperv_initramfs", {"initramfs_modules": text}).status is P
    only_vmbus = text.replace(
        "usr/lib/modules/6.1.0-28-cloud-amd64/kernel/drivers/scsi/hv_storvsc.ko\n", ""
    )
    result = run("hyperv_initramfs", {"initramfs_modules": only_vmbus})
    assert result.status is F and "hv_storvsc" in result.message


def test_generalized_uses_boot_time() -> None:
    base = (
        "btime=1000\n### host_keys\n{keys}### dhcp_leases\n### waagent\n"
        "### cloud_instances\n### resolv_conf\nabsent\n"
    )
    fresh = base.format(keys="1050 /etc/ssh/ssh_host_ed25519_key\n")
    stale = base.format(keys="900 /etc/ssh/ssh_host_ed25519_key\n")
    assert run("generalized", {"deprovision_state": fresh}).status is P
    result = run("generalized", {"deprovision_state": stale})
    assert result.status is F and "ssh_host_ed25519_key" in result.actual


def test_boot_log_extra_ignore_param() -> None:
    facts = {"dmesg": "### console\n### problems\n[ 1.0] foo: frobnicator failed\n", "dmi": AZURE}
    assert run("boot_log_clean", facts).status is F
    assert run("boot_log_clean", facts, extra_ignore=["frobnicator"]).status is P


@pytest.mark.parametrize(
    ("line", "ignored"),
    [
        ("usb 1-1: device descriptor read/64, error -71", True),
        ("systemd[1]: foo.conf:3: Failed to parse value, ignoring: bar", False),
        ("systemd-journald[201]: Failed to open system journal: Read-only file system", False),
        (
            "systemd-journald[201]: File /var/log/journal/x/system.journal corrupted or uncleanly "
            "shut down, renaming and replacing.",
            True,
        ),
        ("Spectre V1 : Vulnerable: __user pointer sanitization and usercopy barriers only", True),
        ("nvme nvme0: I/O 12 QID 0 timeout, vulnerable firmware, error -5", False),
        ("sshd[811]: error: send: Broken pipe", True),
        ("backup.sh[901]: tar: write error: Broken pipe", False),
        ("uhci_hcd: USB controller failed to reset", False),
    ],
)
def test_boot_log_ignore_list_is_narrow(line: str, ignored: bool) -> None:
    """Only the reviewed harmless messages are ignored, not every line with a common word."""
    facts = {"dmesg": f"### console\n### problems\n[    1.000000] {line}\n"}
    assert (run("boot_log_clean", facts).status is P) is ignored


def test_ssh_client_alive_interval_without_sshd_t_uses_the_file() -> None:
    text = "### effective\nsshd_t_status=255\n### main_config\n7:ClientAliveInterval 180\n"
    result = run("ssh_client_alive_interval", {"sshd": text})
    assert result.status is P and result.actual == "effective 180; main sshd_config 180"


def test_disk_merge_reports_both_sources_and_the_worse_status() -> None:
    offline = Outcome(P, "No. of Swap Partitions: 0", "no swap partition")
    online = Outcome(F, "Swap space configured on the OS disk.", "1 swap item(s)", "fstab swap")
    both = merge(offline, online)
    assert both.status is F
    assert both.actual.startswith("image: No. of Swap") and "running: Swap space" in both.actual
    assert merge(Outcome(S, "", "table not read"), online) == online
    assert merge(None, None).status is S


def test_online_swap_on_resource_disk_is_fine_but_swapfile_on_root_is_not() -> None:
    block = (
        "root_source=/dev/vda1\nroot_fstype=ext4\nos_disk=vda\n### lsblk\n"
        'NAME="/dev/vda" TYPE="disk" FSTYPE="" MOUNTPOINT="" PARTTYPE=""\n'
        'NAME="/dev/vda1" TYPE="part" FSTYPE="ext4" MOUNTPOINT="/" PARTTYPE="0x83"\n'
    )
    resource = "### active\n/mnt/resource/swapfile file 2097148 /dev/sdb1\n### fstab\n"
    on_root = "### active\n/swapfile file 524284 /dev/vda1\n### fstab\n/swapfile none swap sw\n"
    assert run("no_swap_on_os_disk", {"block_devices": block, "swap": resource}).status is P
    result = run("no_swap_on_os_disk", {"block_devices": block, "swap": on_root})
    assert result.status is F and "/swapfile" in result.evidence


def test_network_dhcp_without_default_route_judges_first_interface() -> None:
    net = (
        "### default_route\n### addresses\n"
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "2: eth0    inet 10.0.2.15/24 metric 1024 brd 10.0.2.255 scope global dynamic eth0\\"
        "       valid_lft 86250sec preferred_lft 86250sec\n"
        "### persistent_rules\n### config_files\n/etc/systemd/network/50-dhcp.network\n"
    )
    result = run("network_dhcp", {"network": net})
    assert result.status is P and result.actual == "eth0: dynamic (DHCP)"
    static = net.replace(" dynamic", "")
    assert run("network_dhcp", {"network": static}).status is F
