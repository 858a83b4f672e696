"""Issue 12's principles, each on a case an image author could ship that vmcert judged wrongly.

Every case failed (or passed wrongly) before its fix. Texts are in the formats the probes print;
where a rule comes from the consumer's source, the source is named next to the case. The table in
docs/checks.md ("Principles and their proofs") maps each principle to its tests here and in
tests/test_checks_verdicts.py and the other check tests.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from checks.fact import FACTS, load_builtin_facts
from checks.model import Status
from checks.offline import read_image_facts
from tests.test_checks_units import run
from tests.test_offline_facts import _image
from tests.test_offline_support import debian_tree

P, F = Status.PASS, Status.FAIL
AGENT_NEW = "package=2.11.1.12\n"
AGENT_OLD = "package=2.9.1.1\n"


def _script(name: str) -> str:
    load_builtin_facts()
    return FACTS.get(name).script_for("unknown")


def _sh(text: str) -> str:
    return subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=True).stdout


# --- waagent.conf as WALinuxAgent's ConfigurationProvider.load reads it -----------------------
# azurelinuxagent/common/conf.py (every agent since 2.2.19, #896 "End of Line Comments are Not
# Supported nor Handled"): key, value = line.split('=', 1); value.split('#')[0].strip('" ').strip()
@pytest.mark.parametrize(
    ("conf", "status"),
    [
        ("AutoUpdate.Enabled=n # off for this image\n", F),
        ("AutoUpdate.Enabled=n\t\n", F),  # the final strip() removes tabs too
        ("AutoUpdate.Enabled = y # was n\n", P),
        ("AutoUpdate.Enabled=y\x0bAutoUpdate.Enabled=n\n", P),  # one line: content.split('\n')
    ],
)
def test_waagent_end_of_line_comments_are_dropped(conf: str, status: Status) -> None:
    facts = {"waagent_conf": conf, "agent_version": AGENT_OLD}
    assert run("waagent_auto_update", facts).status is status


def test_extensions_disabled_behind_a_comment_fails_the_agent_check() -> None:
    facts = {
        "agent_version": AGENT_OLD,
        "agent_service": "waagent.service enabled=enabled active=active\n",
        "waagent_conf": "Extensions.Enabled=y\nExtensions.Enabled=n  # no extensions here\n",
    }
    result = run("linux_agent_enabled", facts)
    assert result.status is F and "Extensions.Enabled=n" in result.message


# conf.py get_auto_update_to_latest_version (2.10.0.8, #3027): "If
# AutoUpdate.UpdateToLatestVersion is present, it overrides any value set for AutoUpdate.Enabled"
@pytest.mark.parametrize(
    ("conf", "agent", "status"),
    [
        ("AutoUpdate.Enabled=y\nAutoUpdate.UpdateToLatestVersion=n\n", AGENT_NEW, F),
        ("AutoUpdate.Enabled=n\nAutoUpdate.UpdateToLatestVersion=y\n", AGENT_NEW, P),
        ("AutoUpdate.Enabled=y\nAutoUpdate.UpdateToLatestVersion=n\n", AGENT_OLD, P),  # unknown
        ("AutoUpdate.Enabled=n\n# AutoUpdate.UpdateToLatestVersion=y\n", AGENT_NEW, F),
    ],
)
def test_update_to_latest_version_overrides_on_agents_that_read_it(
    conf: str, agent: str, status: Status
) -> None:
    facts = {"waagent_conf": conf, "agent_version": agent}
    assert run("waagent_auto_update", facts).status is status


# --- modprobe: every directory kmod reads -----------------------------------------------------
def test_modprobe_reads_usr_local_lib(tmp_path: Path) -> None:
    """kmod's default_config_paths (libkmod/libkmod.c, since kmod 29): /etc, /run,
    /usr/local/lib, /usr/lib and /lib modprobe.d. An ``install udf /bin/true`` there blocks
    udf as surely as one in /etc."""
    local = tmp_path / "usr/local/lib/modprobe.d"
    local.mkdir(parents=True)
    (local / "cis.conf").write_text("install udf /bin/true\n")
    text = _script("modprobe_blacklist")
    dirs = 'dirs="/etc/modprobe.d /run/modprobe.d /usr/local/lib/modprobe.d /usr/lib/modprobe.d"'
    assert dirs in text
    text = text.replace(dirs, f'dirs="{tmp_path}/etc {tmp_path}/run {local}"')
    out = _sh(text)
    assert out == f"{local}/cis.conf:install udf /bin/true\n"
    facts = {"modprobe_blacklist": out, "cmdline": "BOOT_IMAGE=/vmlinuz\n"}
    assert run("udf_vfat_enabled", facts).status is F
    (local / "cis.conf").write_text("install floppy /bin/true\n")
    assert run("udf_vfat_enabled", dict(facts, modprobe_blacklist=_sh(text))).status is P


# --- systemd: a socket cannot activate a masked service ---------------------------------------
def test_ssh_socket_of_a_masked_service_is_not_an_ssh_server() -> None:
    """systemd's socket_start (src/core/socket.c): "Socket service %s not loaded, refusing." —
    a masked ssh.service leaves ssh.socket unable to start it."""
    text = (
        "ssh.service enabled=masked active=inactive\nssh.socket enabled=enabled active=active\n"
        "### listen\n0.0.0.0:22\n"
    )
    assert run("ssh_enabled", {"ssh_service": text}).status is F
    enabled = text.replace("enabled=masked", "enabled=disabled")
    assert run("ssh_enabled", {"ssh_service": enabled}).status is P


# --- sudo: #includedir is @includedir; names with "." or ending in "~" are skipped -----------
def test_sudo_hash_includedir_and_skipped_names(tmp_path: Path) -> None:
    """sudoers(5), "Including other files from within sudoers": #includedir is the pre-1.9.1
    spelling of @includedir; sudo skips file names that end in '~' or contain a '.'."""
    (tmp_path / "sudoers.d").mkdir()
    (tmp_path / "sudoers").write_text("Defaults env_reset\n#includedir sudoers.d\n")
    (tmp_path / "sudoers.d" / "10-old~").write_text("Defaults targetpw\n")
    (tmp_path / "sudoers.d" / "20-new.conf").write_text("Defaults targetpw\n")
    text = _script("sudoers").replace("/etc/sudoers 0", f"{tmp_path}/sudoers 0")
    assert run("sudoers_no_targetpw", {"sudoers": _sh(text)}).status is P
    (tmp_path / "sudoers.d" / "30-site").write_text("Defaults:ALL targetpw\n")
    result = run("sudoers_no_targetpw", {"sudoers": _sh(text)})
    assert result.status is F and "30-site" in result.actual
    (tmp_path / "sudoers").write_text("Defaults env_reset\n# includedir sudoers.d\n")  # comment
    assert run("sudoers_no_targetpw", {"sudoers": _sh(text)}).status is P


# --- every home directory on the disk, also one passwd no longer names ------------------------
def test_history_in_an_orphaned_home_outside_home_and_passwd(tmp_path: Path) -> None:
    """``userdel`` without ``-r`` leaves the home; a service account's home under /srv or
    /var/lib whose passwd line was removed still ships its history."""
    root = tmp_path / "disk"
    (root / "srv/olduser").mkdir(parents=True)
    (root / "srv/olduser/.bash_history").write_text("cat /etc/shadow\n" * 100)
    (root / "home").mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/nonexistent-root:/bin/bash\n")
    text = (
        _script("bash_history")
        .replace("for top in /*;", f"for top in {root}/*;")
        .replace("/home/*", f"{root}/home/*")
        .replace("homes=/root;", f"homes={root}/root;")
        .replace("/etc/passwd", str(passwd))
    )
    out = _sh(text)
    assert f" {root}/srv/olduser/.bash_history\n" in out
    result = run("bash_history", {"bash_history": out})
    assert result.status is F and "olduser" in result.actual
    (root / "srv/olduser/.bash_history").write_text("")
    assert run("bash_history", {"bash_history": _sh(text)}).status is P


# --- what the image ships: the offline readers see the same defects ---------------------------
@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A Debian tree with an orphaned home under /var/lib and /srv, a blocking install line in
    /usr/local/lib/modprobe.d, a machine-id and a cloud-init log of an earlier boot."""
    tmp = tmp_path_factory.mktemp("shipped")
    tree = debian_tree(tmp / "root")
    for path, body in (
        ("var/lib/gone/.bash_history", "sudo -i\n" * 300),
        ("srv/app/home/.zsh_history", "x\n"),
        ("usr/local/lib/modprobe.d/cis.conf", "install udf /bin/true\n"),
        ("etc/machine-id", "5d1c0c2f2b1f4d7e9a2f0b8c4e6a1d3f\n"),
        ("var/log/cloud-init.log", "2024-01-01 00:00:00,000 - util.py[DEBUG]: Cloud-init v.\n"),
    ):
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    os.utime(tree / "etc/machine-id", (1_700_000_000, 1_700_000_000))
    names = ("bash_history", "modprobe_blacklist", "deprovision_state")
    wanted = [f for f in FACTS if f.name in names]
    collection = read_image_facts(_image(tmp, tree), wanted, now=2_000_000_000)
    assert not collection.facts.errors, collection.facts.errors
    return dict(collection.facts.raw)


def test_offline_histories_in_orphaned_homes(shipped: dict[str, str]) -> None:
    assert " root /var/lib/gone/.bash_history\n" in shipped["bash_history"]
    assert " root /srv/app/home/.zsh_history\n" in shipped["bash_history"]
    result = run("bash_history", {"bash_history": shipped["bash_history"]})
    assert "/var/lib/gone/.bash_history" in result.evidence


def test_offline_modprobe_reads_usr_local_lib(shipped: dict[str, str]) -> None:
    line = "/usr/local/lib/modprobe.d/cis.conf:install udf /bin/true\n"
    assert line in shipped["modprobe_blacklist"]


def test_offline_machine_id_and_provisioning_logs_are_leftovers(shipped: dict[str, str]) -> None:
    text = shipped["deprovision_state"]
    assert "### machine_id\n1700000000 /etc/machine-id\n" in text
    assert " /var/log/cloud-init.log\n" in text.split("### provisioning_logs\n", 1)[1]
    result = run("generalized", {"deprovision_state": text})
    assert result.status is F
    assert "machine-id" in result.evidence and "/var/log/cloud-init.log" in result.evidence


# --- shipped state vs first-boot rewrites, online -----------------------------------------------
BTIME = 1_700_000_000
CLEAN = f"btime={BTIME}\n### host_keys\n{BTIME + 5} /etc/ssh/ssh_host_ed25519_key\n"


def test_machine_id_written_before_the_boot_is_a_leftover() -> None:
    """systemd's machine-id(5): an empty or "uninitialized" /etc/machine-id marks the first
    boot and is filled then; an id written before the boot is the image's, shared by every VM."""
    shipped = CLEAN + f"### machine_id\n{BTIME - 86400} /etc/machine-id\n"
    assert run("generalized", {"deprovision_state": shipped}).status is F
    first_boot = CLEAN + f"### machine_id\n{BTIME + 2} /etc/machine-id\n"
    assert run("generalized", {"deprovision_state": first_boot}).status is P


def test_log_born_before_the_boot_is_an_earlier_provisioning() -> None:
    """First boot appends to a shipped cloud-init.log (its mtime is fresh); its birth time
    (``stat %W``) shows it predates the boot. 0 is an unknown birth time: not judged."""
    shipped = CLEAN + f"### provisioning_logs\n{BTIME - 3600} /var/log/waagent.log\n"
    result = run("generalized", {"deprovision_state": shipped})
    assert result.status is F and "/var/log/waagent.log" in result.evidence
    for birth in (BTIME + 3, 0):
        fresh = CLEAN + f"### provisioning_logs\n{birth} /var/log/waagent.log\n"
        assert run("generalized", {"deprovision_state": fresh}).status is P


def test_deprovision_probe_prints_machine_id_and_logs(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "etc/machine-id").write_text("uninitialized\n")
    (tmp_path / "var/log/waagent.log").write_text("2024/01/01 INFO Daemon\n")
    text = _script("deprovision_state").replace("/etc/", f"{tmp_path}/etc/")
    text = text.replace("/var/log/", f"{tmp_path}/var/log/")
    out = _sh(text)
    assert "### machine_id" not in out  # first boot fills an "uninitialized" one
    assert f" {tmp_path}/var/log/waagent.log\n" in out.split("### provisioning_logs\n", 1)[1]
    (tmp_path / "etc/machine-id").write_text("5d1c0c2f2b1f4d7e9a2f0b8c4e6a1d3f\n")
    assert f" {tmp_path}/etc/machine-id\n" in _sh(text).split("### machine_id\n", 1)[1]
    (tmp_path / "run-machine-id").write_text("5d1c0c2f2b1f4d7e9a2f0b8c4e6a1d3f\n")
    (tmp_path / "etc/machine-id").unlink()
    (tmp_path / "etc/machine-id").symlink_to(tmp_path / "run-machine-id")  # filled every boot
    assert "### machine_id" not in _sh(text)
