"""Read-only assertions on the shared ``good_vm`` (the good image booted once, settled)."""

from __future__ import annotations

import pytest

from harness.platforms.base import Machine
from harness.ssh import NOTE_PINNED

pytestmark = pytest.mark.e2e


def test_commands_sudo_and_facts(good_vm: Machine) -> None:
    with good_vm.session() as session:
        uname = session.run("uname -sr")
        assert uname.ok and uname.stdout_text.startswith("Linux 6.1.")
        # provisioned as Azure does (the default): the user ovf-env.xml named
        assert session.run("id -un").stdout_text.strip() == "azureuser"
        assert session.run("id -u", sudo=True).stdout_text.strip() == "0"
        # /sbin tools work without sudo (Debian leaves /sbin out of a user's PATH)
        assert session.run("command -v modinfo").ok
    facts = good_vm.facts
    assert facts["platform"] == "qemu"
    assert facts["accel"] in ("kvm", "tcg")
    assert facts["generation"] == "1" and facts["firmware"] == "SeaBIOS"
    assert facts["image_format"] == "vpc"  # a fixed VHD, not probed as raw
    assert (
        "user azureuser created by the image's own provisioning agent" in facts["harness_footprint"]
    )
    assert facts["provision"] == "azure"
    assert float(facts["qemu_start_to_ssh_s"]) > 0


def test_settled_and_host_key_pinned_from_console(good_vm: Machine) -> None:
    assert good_vm.facts["cloud_init_status"] == "done"
    assert good_vm.facts["system_state"] in ("running", "degraded")
    assert good_vm.host_key_note == NOTE_PINNED
    assert good_vm.host_keys and good_vm.host_keys[0].startswith("SHA256:")
    with good_vm.session() as session:
        assert session.host_key_note == NOTE_PINNED
        assert session.host_key_fingerprint in good_vm.host_keys


def test_script_fetch_and_output_cap(good_vm: Machine) -> None:
    with good_vm.session() as session:
        script = session.run_script("echo one\nsudo -n true && echo two\nexit 4\n")
        assert script.exit_status == 4 and script.stdout_text == "one\ntwo\n"
        assert b'VERSION_ID="12"' in session.fetch("/etc/os-release")
        big = session.run("head -c 3000000 /dev/zero", max_output=1 << 20)
        assert big.stdout_dropped == 3000000 - (1 << 20) and big.truncated
        slow = session.run("sleep 30", timeout=2)
        assert slow.timed_out and slow.exit_status is None


def test_serial_log_has_boot_and_sshd(good_vm: Machine) -> None:
    assert good_vm.serial_log is not None and good_vm.serial_log.is_file()
    text = good_vm.serial_log.read_text(errors="replace")
    assert "Linux version" in text
    assert "OpenBSD Secure Shell server" in text
