"""``--provision azure`` on the QEMU platform without booting: the option, the command line,
early failure from the console, and the run's teardown stopping the emulator."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness import accel
from harness.config import Config
from harness.errors import InputError
from harness.platforms import DiskFile, platform_options
from harness.platforms.base import BootError
from harness.platforms.qemu import QemuMachine, QemuOptions, QemuRun
from harness.platforms.qemu.cmdline import RunFiles, qemu_argv
from harness.platforms.qemu.provision import AzureProvisioning
from harness.platforms.qemu.serial import SerialWatcher


def azure_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("azure-")]


def test_provision_option_from_flags_and_config() -> None:
    assert QemuOptions().provision == "azure"  # provisioned as Azure does, unless asked
    options = platform_options("qemu", {"provision": "nocloud"}, Config())
    assert isinstance(options, QemuOptions) and options.provision == "nocloud"
    with pytest.raises(InputError):
        platform_options("qemu", {"provision": "ec2"}, Config())


def test_azure_command_line_replaces_seed_cpu_and_network(tmp_path: Path) -> None:
    files = RunFiles.under(tmp_path / "qemu-x")
    files.directory.mkdir()
    azure = AzureProvisioning.start(files.directory)
    try:
        fragments = azure.qemu_arguments("tcg", 40022)
        disk = DiskFile(Path("disk.vhd"), "vpc", 1)
        argv = qemu_argv(QemuOptions(), disk, accel.tcg("t"), files, 40022, fragments)
    finally:
        azure.emulator.stop()
    text = " ".join(argv)
    assert "-accel tcg -cpu max,tcg-cpuid=off" in text
    assert str(files.seed) not in text  # no NoCloud seed next to Azure's media
    netdev = argv[argv.index("-netdev") + 1]
    assert netdev.startswith("user,id=n0,net=168.0.0.0/7,restrict=on,")
    assert "hostfwd=tcp:127.0.0.1:40022-:22" in netdev and "guestfwd=" in netdev
    nic = argv[argv.index("-device", argv.index("-netdev")) + 1]
    assert nic == f"virtio-net-pci,netdev=n0,mac={azure.emulator.identity.mac},romfile="
    assert "scsi-cd,bus=vmcert-scsi0.0,drive=vmcert-cd0-drive,id=vmcert-cd0" in argv
    assert argv.count("-smbios") == 2 and "filter-redirector" in text
    assert azure.user == "azureuser"


def test_guest_giving_up_fails_the_boot_early(tmp_path: Path) -> None:
    files = RunFiles.under(tmp_path)
    run = QemuRun(files, True, started=time.monotonic())
    azure = AzureProvisioning.start(files.directory)
    run.emulator = azure.emulator
    run.watcher = SerialWatcher(files.serial_log, run.started, False)
    run.watcher.start()
    try:
        files.serial_log.write_text("[  9.0] systemd[1]: Starting cloud-init-local.service\n")
        time.sleep(0.3)
        azure.check(run)  # still booting: nothing to say
        with files.serial_log.open("a") as serial:
            serial.write(
                "[ 41.2] cloud-init[493]: Cloud-init v. 22.4.2 finished at Tue, 01 Dec 2026 "
                "17:37:07 +0000. Datasource DataSourceNone.  Up 41.1 seconds\n"
            )
        time.sleep(0.3)
        with pytest.raises(BootError, match="DataSourceNone instead of the Azure datasource"):
            azure.check(run)
        facts = azure.facts(run)
        assert facts["provision"] == "azure" and facts["azure_provisioning"] == "waiting"
        assert "SSH" in azure.timeout_message(run, "SSH never came up")
    finally:
        run.teardown()
    assert azure_threads() == []
    assert not files.directory.exists()


def test_teardown_stops_the_emulator_and_keeps_its_log(tmp_path: Path) -> None:
    files = RunFiles.under(tmp_path / "run")
    files.directory.mkdir()
    kept = tmp_path / "kept" / "serial.log"
    files.serial_log.write_text("console\n")
    run = QemuRun(files, True, serial_log_to=kept, started=time.monotonic())
    run.emulator = AzureProvisioning.start(files.directory).emulator
    assert azure_threads()
    machine = QemuMachine(host="127.0.0.1", port=22, user="azureuser", run=run)
    state = machine.azure_state()
    assert state is not None and state.requests == 0 and state.ready is None
    assert QemuMachine(host="127.0.0.1", port=22, user="vmcert").azure_state() is None
    run.teardown()
    run.teardown()  # idempotent
    assert azure_threads() == []
    assert kept.read_text() == "console\n"
    assert kept.with_name("azure-requests.jsonl").exists()
    assert not files.directory.exists()


def test_nocloud_boot_of_an_azure_only_image_fails_early(tmp_path: Path) -> None:
    """The NoCloud fallback's "no way in": cloud-init finished without reading the seed."""
    from harness.azure_emulator.diagnosis import cloud_init_finished_with
    from harness.platforms.qemu.provision import check_nocloud

    files = RunFiles.under(tmp_path)
    run = QemuRun(files, True, started=time.monotonic())
    run.watcher = SerialWatcher(files.serial_log, run.started, False)
    run.watcher.start()
    done = (
        "[ 41.2] cloud-init[493]: Cloud-init v. 22.4.2 finished at Tue, 01 Dec 2026 17:37:07 "
        "+0000. Datasource {}.  Up 41.1 seconds\n"
    )
    seed = [(41.2, done.format("DataSourceNoCloud [seed=/dev/vdb][dsmode=net]"))]
    assert cloud_init_finished_with(seed) == "DataSourceNoCloud"  # the seed was read
    try:
        files.serial_log.write_text("[  9.0] systemd[1]: Starting cloud-init-local.service\n")
        time.sleep(0.3)
        check_nocloud(run)  # still booting
        with files.serial_log.open("a") as serial:
            serial.write(done.format("DataSourceNone"))
        time.sleep(0.3)
        with pytest.raises(BootError, match="does not honour NoCloud: cloud-init finished with"):
            check_nocloud(run)
    finally:
        run.teardown()
