"""The qemu platform's decisions (format, generation, acceleration, seed, host-key pinning).

Images here are small real disks made with sfdisk and qemu-img; one e2e test runs real QEMU on a
disk with nothing to boot and expects a fast, explained failure and nothing left behind.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import accel
from harness.errors import InputError
from harness.platforms import PLATFORMS, BootContext, BootError, DiskFile
from harness.platforms.qemu import QemuOptions, QemuPlatform, QemuRun
from harness.platforms.qemu.cmdline import RunFiles, overlay_argv, qemu_argv
from harness.platforms.qemu.platform import check_alive
from harness.platforms.qemu.serial import SerialWatcher, host_key_fingerprints
from harness.platforms.ssh import SshPlatform
from harness.seed import build_seed_iso, user_data
from images.bootdisk import generation_from_head
from images.errors import ImageInputError
from images.registry import UnknownPluginError


def sniff_format(path: Path) -> str:
    """The QEMU driver the platform boots ``path`` with (read from its bytes)."""
    return DiskFile.probe(path).qemu_driver


def detect_generation(path: Path) -> int:
    """The generation the platform boots ``path`` as (from its partition table)."""
    return DiskFile.probe(path).generation


def has_efi_system_partition(head: bytes) -> bool:
    return generation_from_head(head, None) == 2


ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def _disk(path: Path, script: str, size_mib: int = 16) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size_mib << 20)
    subprocess.run(
        ["sfdisk", "--quiet", str(path)], input=script.encode(), check=True, capture_output=True
    )
    return path


def _convert(raw: Path, fmt: str, *opts: str) -> Path:
    out = raw.with_suffix("." + fmt)
    subprocess.run(
        ["qemu-img", "convert", "-O", fmt, *opts, str(raw), str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def gpt_esp(tmp_path: Path) -> Path:
    return _disk(tmp_path / "gpt.raw", f"label: gpt\nsize=4MiB, type={ESP}\ntype={LINUX}\n")


@pytest.fixture
def mbr(tmp_path: Path) -> Path:
    return _disk(tmp_path / "mbr.raw", "label: dos\ntype=83, bootable\n")


def test_format_sniffed_from_bytes_not_name(gpt_esp: Path, tmp_path: Path) -> None:
    assert sniff_format(gpt_esp) == "raw"
    assert sniff_format(_convert(gpt_esp, "qcow2")) == "qcow2"
    fixed = _convert(gpt_esp, "vpc", "-o", "subformat=fixed,force_size=on")
    # QEMU's own probe says raw for a fixed VHD (local-boot pitfall 11); we must say vpc
    assert sniff_format(fixed) == "vpc"
    disguised = tmp_path / "disk.vhd"
    shutil.copyfile(_convert(gpt_esp, "qcow2"), disguised)
    assert sniff_format(disguised) == "qcow2"


def test_generation_2_for_gpt_with_esp(gpt_esp: Path) -> None:
    assert detect_generation(gpt_esp) == 2
    qcow = _convert(gpt_esp, "qcow2")
    assert detect_generation(qcow) == 2  # read through the container, not the file bytes
    fixed = _convert(gpt_esp, "vpc", "-o", "subformat=fixed,force_size=on")
    assert detect_generation(fixed) == 2


def test_generation_1_for_mbr_and_gpt_without_esp(mbr: Path, tmp_path: Path) -> None:
    assert detect_generation(mbr) == 1
    gpt_plain = _disk(tmp_path / "plain.raw", f"label: gpt\ntype={LINUX}\n")
    assert detect_generation(gpt_plain) == 1
    assert not has_efi_system_partition(b"")
    assert not has_efi_system_partition(b"\0" * 4096)


def test_cloud_init_fingerprint_block_parsed() -> None:
    lines = [
        "ci-info: no authorized SSH keys fingerprints found for user vmcert.",
        "<14>Nov 24 12:00:00 cloud-init: #############################################",
        "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
        "256 SHA256:3o9aPS3Yv3ZhBv5Zt6i7OeMWHw/YzdvyJlGgMivxNNE root@vmcert-guest (ED25519)",
        "-----END SSH HOST KEY FINGERPRINTS-----",
        "256 SHA256:ignoredOutsideTheMarkersxxxxxxxxxxxxxxxxxxxx root@x (ED25519)",
    ]
    assert host_key_fingerprints(lines) == ["SHA256:3o9aPS3Yv3ZhBv5Zt6i7OeMWHw/YzdvyJlGgMivxNNE"]
    assert host_key_fingerprints(lines[:2]) == []


def test_serial_watcher_timestamps_lines_and_strips_escapes(tmp_path: Path) -> None:
    log = tmp_path / "serial.log"
    log.write_bytes(b"\x1b[2J\x1b[01;01Hfirst\r\nsecond\npartial")
    watcher = SerialWatcher(log, 0.0, echo=False)
    watcher.start()
    try:
        for _ in range(100):
            if len(watcher.snapshot()) >= 3:
                break
            import time

            time.sleep(0.02)
    finally:
        watcher.stop()
    lines = [line for _, line in watcher.snapshot()]
    assert lines == ["first", "second", "partial"]
    assert watcher.first("second") is not None and watcher.first("absent") is None


def test_an_unterminated_line_keeps_the_time_it_began(tmp_path: Path) -> None:
    """A login prompt is never terminated: its time is when it appeared, not when asked (the
    early-failure rules measure how long the guest has sat at its prompt)."""
    import time

    watcher = SerialWatcher(tmp_path / "serial.log", time.monotonic(), echo=False)
    watcher.feed(b"Debian GNU/Linux 12 localhost ttyS0\n\nlocalhost lo")
    began = watcher.snapshot()[-1][0]
    time.sleep(0.2)
    watcher.feed(b"gin: ")
    *_, (at, line) = watcher.snapshot()
    assert line == "localhost login: " and at == began
    time.sleep(0.2)
    assert watcher.snapshot()[-1][0] == began  # asking again does not move it
    watcher.feed(b"\n[ 33.4] kvm: x")
    assert watcher.snapshot()[-2] == (watcher.snapshot()[-2][0], "localhost login: ")
    assert watcher.snapshot()[-1][0] > began  # the next line has its own time


def test_seed_iso_has_cidata_label_and_user(tmp_path: Path) -> None:
    iso = build_seed_iso(tmp_path, "ssh-ed25519 AAAAC3Nza test", "i-123")
    head = iso.read_bytes()[32768 : 32768 + 2048]  # ISO 9660 primary volume descriptor
    assert head[1:6] == b"CD001"
    assert head[40:72].decode().strip() == "cidata"
    data = user_data("ssh-ed25519 AAAAC3Nza test")
    assert data.startswith("#cloud-config\n")
    config = json.loads(data.split("\n", 1)[1])
    user = config["users"][0]
    assert user["name"] == "vmcert" and user["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    assert user["ssh_authorized_keys"] == ["ssh-ed25519 AAAAC3Nza test"]
    assert config["ssh_genkeytypes"] == ["ed25519"]
    assert not (tmp_path / "seed").exists()  # the staging directory is gone


def test_accel_choice_and_cached_verdict(tmp_path: Path) -> None:
    assert accel.choose_accel("tcg").qemu_args == ["-accel", "tcg", "-cpu", "max"]
    assert accel.choose_accel("tcg").timeout_scale == accel.TCG_TIMEOUT_SCALE
    with pytest.raises(InputError):
        accel.choose_accel("hvf")
    # the verdict is cached per host boot id: a cached "works" is trusted without probing
    device = tmp_path / "kvm"  # a file that opens read-write, as a usable /dev/kvm does
    device.write_bytes(b"")
    cache = tmp_path / "verdict.json"
    cache.write_text(json.dumps({"works": True, "reason": "probe ok"}))
    chosen = accel.choose_accel("auto", device=device, cache=cache)
    assert chosen.name == "kvm" and "cached" in chosen.reason
    cache.write_text(json.dumps({"works": False, "reason": "probe failed"}))
    chosen = accel.choose_accel("auto", device=device, cache=cache)
    assert chosen.name == "tcg" and "probe failed" in chosen.reason
    assert accel.host_boot_id() == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert accel.verdict_cache_file().name == f"kvm-verdict-{accel.host_boot_id()}.json"


def test_kvm_unusable_without_device(tmp_path: Path) -> None:
    missing = tmp_path / "no-kvm"
    assert accel.choose_accel("auto", device=missing, cache=tmp_path / "v.json").name == "tcg"
    with pytest.raises(InputError, match="no-kvm cannot be opened"):
        accel.choose_accel("kvm", device=missing)


def test_registry_has_builtins() -> None:
    assert PLATFORMS.get("qemu") is QemuPlatform
    assert PLATFORMS.get("ssh") is SshPlatform
    with pytest.raises(UnknownPluginError, match="unknown platform 'azure'"):
        PLATFORMS.get("azure")


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        QemuPlatform().boot(DiskFile.probe(tmp_path / "missing.vhd"), QemuOptions(), BootContext())
    with pytest.raises(InputError, match="needs an image"):
        QemuPlatform().boot(None, QemuOptions(), BootContext())
    (tmp_path / "x.raw").write_bytes(b"\0" * 4096)
    with pytest.raises(InputError, match="generation"):
        QemuPlatform().boot(
            DiskFile.probe(tmp_path / "x.raw"), QemuOptions(generation=3), BootContext()
        )


def test_boot_error_carries_serial_tail() -> None:
    error = BootError("boot failed: kernel panic", ["a", "b"])
    assert str(error).splitlines()[0] == "boot failed: kernel panic"
    assert error.serial_tail == ["a", "b"] and "  | b" in str(error)


@pytest.mark.e2e
def test_nothing_bootable_fails_fast_and_cleans_up(tmp_path: Path) -> None:
    image = tmp_path / "blank.raw"
    with image.open("wb") as handle:
        handle.truncate(16 << 20)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    run_dir = tmp_path / "runs"
    with pytest.raises(BootError, match="no bootable device"):
        QemuPlatform().boot(
            DiskFile.probe(image),
            QemuOptions(accel="tcg", boot_timeout=60, memory_mib=256),
            BootContext(run_dir=run_dir),
        )
    assert list(run_dir.iterdir()) == []
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before
    leftover = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True)
    assert leftover.returncode == 1  # no process mentions the run dir


@pytest.mark.e2e
def test_gen2_boots_ovmf_and_reports_nothing_bootable(gpt_esp: Path, tmp_path: Path) -> None:
    # GPT with an (empty) EFI system partition: generation 2 is chosen, OVMF runs from pflash
    # with a private variable store, finds nothing to boot and the failure says so.
    run_dir = tmp_path / "runs"
    with pytest.raises(BootError, match="UEFI") as info:
        QemuPlatform().boot(
            DiskFile.probe(gpt_esp),
            QemuOptions(accel="tcg", boot_timeout=120, memory_mib=256),
            BootContext(run_dir=run_dir),
        )
    assert any("BdsDxe" in line for line in info.value.serial_tail)
    assert list(run_dir.iterdir()) == []


def _run_with_serial(tmp_path: Path, serial: str) -> QemuRun:
    (tmp_path / "serial.log").write_text(serial)
    run = QemuRun(RunFiles.under(tmp_path), owns_directory=False)
    run.watcher = SerialWatcher(tmp_path / "serial.log", 0.0, echo=False)
    run.watcher.feed((tmp_path / "serial.log").read_bytes())
    return run


def test_kernel_panic_in_serial_log_fails_early(tmp_path: Path) -> None:
    lines = "".join(f"line {n}\n" for n in range(60))
    run = _run_with_serial(tmp_path, lines + "Kernel panic - not syncing: VFS: Unable to mount\n")
    with pytest.raises(BootError, match="kernel panic") as info:
        check_alive(run)
    assert len(info.value.serial_tail) == 40
    assert info.value.serial_tail[-1].startswith("Kernel panic")


def test_qemu_exit_fails_early_with_its_message(tmp_path: Path) -> None:
    run = _run_with_serial(tmp_path, "")
    run.stderr_path = tmp_path / "qemu.stderr"
    run.stderr_path.write_text("qemu-system-x86_64: -drive file=x: Could not open 'x'\n")
    run.process = subprocess.Popen(["false"])
    run.process.wait()
    with pytest.raises(BootError, match=r"QEMU exited with code 1: .*Could not open"):
        check_alive(run)


def test_other_containers_are_refused(tmp_path: Path) -> None:
    vmdk = tmp_path / "disk.vhd"  # the name lies; the bytes decide
    vmdk.write_bytes(b"KDMV" + b"\0" * 4092)
    with pytest.raises(ImageInputError, match="looks like vmdk"):
        sniff_format(vmdk)
    blank = tmp_path / "blank.raw"
    blank.write_bytes(b"\0" * 65536)
    assert sniff_format(blank) == "raw"  # nothing bootable, but a disk: boot fails with a reason


def _argv_pairs(argv: list[str]) -> list[tuple[str, str]]:
    return list(itertools.pairwise(argv))


def test_command_line_for_generation_1(tmp_path: Path) -> None:
    disk = DiskFile(Path("images/disk.vhd"), "vpc", 1)
    files = RunFiles.under(tmp_path / "qemu-x")
    argv = qemu_argv(QemuOptions(memory_mib=2048, cpus=3), disk, accel.tcg("test"), files, 40022)
    assert argv[0] == accel.QEMU
    text = " ".join(argv)
    assert "-accel tcg -cpu max" in text and "-smp 3" in text and "-m 2048" in text
    assert f"-drive file={files.overlay},format=qcow2,if=virtio" in text  # never the image
    assert "disk.vhd" not in text
    assert f"file={files.seed},format=raw,if=virtio,readonly=on" in text
    assert "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22" in text
    assert "virtio-net-pci,netdev=n0,romfile=" in text  # no network boot attempts
    assert "isa-debugcon,iobase=0x402,chardev=fw0" in text and "pflash" not in text
    assert f"file,id=ser0,path={files.serial_log}" in text
    assert f"unix:{files.qmp_socket},server=on,wait=off" in text
    assert argv[argv.index("-name") + 1] == "qemu-x"


def test_command_line_for_generation_2_and_the_override(gpt_esp: Path, tmp_path: Path) -> None:
    from images.candidate import load_candidate

    candidate = load_candidate(gpt_esp)  # the runner's Candidate is what the platform boots
    assert candidate.generation == 2 and candidate.qemu_driver == "raw"
    files = RunFiles.under(tmp_path, qmp_dir=tmp_path / "q")
    argv = qemu_argv(QemuOptions(), candidate, accel.kvm("test"), files, 2222)
    drives = [value for flag, value in _argv_pairs(argv) if flag == "-drive"]
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={accel.OVMF_CODE}" in drives
    assert f"if=pflash,format=raw,unit=1,file={files.ovmf_vars}" in drives  # private copy
    assert "isa-debugcon,iobase=0x402,chardev=fw0" not in argv
    assert "-accel kvm -cpu host" in " ".join(argv)
    assert files.qmp_socket == tmp_path / "q" / "qmp.sock"
    forced = qemu_argv(QemuOptions(generation=1), candidate, accel.kvm("test"), files, 2222)
    assert not any("pflash" in arg for arg in forced)  # --gen wins over the partition table


def test_overlay_is_backed_by_the_image_in_its_driver(tmp_path: Path) -> None:
    files = RunFiles.under(tmp_path)
    argv = overlay_argv(DiskFile(Path("rel/disk.vhd"), "vpc", 1), files)
    assert argv[:5] == ["qemu-img", "create", "-q", "-f", "qcow2"]
    assert argv[argv.index("-F") + 1] == "vpc"
    backing = Path(argv[argv.index("-b") + 1])
    assert backing.is_absolute() and backing == Path("rel/disk.vhd").absolute()
    assert argv[-1] == str(files.overlay)
