"""The test-image recipe: sources parsing, cache behaviour, VHD layout and the planted defects.

Tests marked ``root`` build (or reuse) the real images: they need root and network access to the
Debian mirror the host's apt uses (CI has both; a cold build takes one to three minutes). Image
contents are read with ``debugfs`` straight from the partition inside the VHD: nothing is mounted.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from images.errors import ImageInputError
from images.recipe import (
    MIB,
    PARTITION_OFFSET,
    VARIANTS,
    AptSource,
    build_test_image,
    cached_image_path,
    default_cache_dir,
    host_apt_sources,
    recipe_hash,
)
from images.recipe.build import DERIVED
from images.recipe.gen2 import ESP_TYPE, GEN2_TOOLS, LINUX_ROOT_X86_64_TYPE, write_gpt
from images.recipe.good import write_mbr
from images.recipe.key import DERIVED_FROM, GOOD_MODULES, code_fingerprint, recipe_modules
from images.recipe.tools import check_prerequisites
from images.recipe.waagent import CLOUD_INIT_UNITS, waagent_conf

DEFECT_IDS = {
    "bash_history",
    "kernel_cmdline_console",
    "ssh_client_alive_interval",
    "sudoers_no_targetpw",
    "udf_vfat_enabled",
    "waagent_auto_update",
    "no_default_credentials",
    "grub_no_ata_params",
    "no_swap_on_os_disk",
    "generalized",
}

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="building images needs root")


# --- helpers reading an image without mounting it -------------------------------------------------


def _fs(image: Path) -> str:
    """debugfs's name for the ext4 partition inside the fixed VHD (raw data + 512-byte footer)."""
    return f"{image}?offset={PARTITION_OFFSET}"


def read_file(image: Path, path: str) -> str | None:
    """A file's text from the image's root file system, or None when it does not exist."""
    proc = subprocess.run(
        ["debugfs", "-R", f"stat {path}", _fs(image)], capture_output=True, text=True, check=False
    )
    if "File not found" in proc.stderr or proc.returncode != 0:
        return None
    out = subprocess.run(
        ["debugfs", "-R", f"cat {path}", _fs(image)], capture_output=True, check=True
    ).stdout
    return out.decode(errors="replace")


def file_size(image: Path, path: str) -> int | None:
    proc = subprocess.run(
        ["debugfs", "-R", f"stat {path}", _fs(image)], capture_output=True, text=True, check=False
    )
    for token in proc.stdout.split("Size:")[1:2]:
        return int(token.split()[0])
    return None


def list_dir(image: Path, path: str) -> list[str]:
    proc = subprocess.run(
        ["debugfs", "-R", f"ls -p {path}", _fs(image)], capture_output=True, text=True, check=True
    )
    names = []
    for line in proc.stdout.splitlines():
        fields = line.strip("/").split("/")
        if len(fields) >= 5 and fields[4] not in (".", ".."):
            names.append(fields[4])
    return names


# --- pure unit tests ------------------------------------------------------------------------------


def test_cache_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VMCERT_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    assert cached_image_path("good").parent == tmp_path / "images"
    monkeypatch.delenv("VMCERT_CACHE_DIR")
    assert default_cache_dir().name == "vmcert"


def test_variants_declare_their_failures() -> None:
    assert VARIANTS["good"].expected_failures == frozenset()
    assert VARIANTS["gen2"].expected_failures == frozenset()
    assert VARIANTS["defective"].expected_failures == DEFECT_IDS
    for name, spec in VARIANTS.items():
        assert spec.name == name and spec.description


def test_recipe_hash_is_stable_and_per_variant() -> None:
    assert recipe_hash("good") == recipe_hash("good")
    assert recipe_hash("good") != recipe_hash("defective")
    assert recipe_hash("good") in cached_image_path("good").name


def test_recipe_hash_ignores_comments_docstrings_and_layout_but_not_code() -> None:
    source = 'X = 1\n"""About X."""\n\n\ndef f(a):\n    """Doc."""\n    return a + X  # add\n'
    reworded = (
        '# a header comment\nX = (\n    1\n)\n"""X, reworded."""\n\n\ndef f(a):\n    return a + X\n'
    )
    assert code_fingerprint(source) == code_fingerprint(reworded)
    assert code_fingerprint(source) != code_fingerprint(source.replace("X = 1", "X = 2"))
    assert code_fingerprint(source) != code_fingerprint(source.replace("a + X", "X + a"))
    only_doc = 'def g():\n    """Only a docstring."""\n'
    assert code_fingerprint(only_doc) == code_fingerprint("def g():\n    pass\n")


def test_recipe_hash_covers_the_modules_that_build_each_variant() -> None:
    good = {p.stem for p in recipe_modules("good")}
    assert good == set(GOOD_MODULES) and all(p.is_file() for p in recipe_modules("good"))
    assert "gen2" not in good and "defective" not in good  # editing a variant keeps the good image
    assert {"build", "key", "variants", "__init__"}.isdisjoint(good)  # where, not what
    assert set(DERIVED) == set(VARIANTS) - {"good"}
    for name, derive in DERIVED.items():
        modules = {p.stem for p in recipe_modules(name)}
        assert modules == good | set(DERIVED_FROM.get(name, ())) | {name}
        assert derive.__module__ == f"images.recipe.{name}"  # the module the hash covers
    with pytest.raises(ImageInputError, match="known variants"):
        recipe_modules("nope")


def test_waagent_conf_makes_waagent_the_provisioning_agent() -> None:
    conf = "Provisioning.Agent=cloud-init\nProvisioning.DeleteRootPassword=y\n"
    assert waagent_conf(conf) == "Provisioning.Agent=waagent\nProvisioning.DeleteRootPassword=y\n"
    assert waagent_conf("Logs.Verbose=n\n").endswith("Logs.Verbose=n\nProvisioning.Agent=waagent\n")


@needs_root
def test_waagent_image_switches_cloud_init_off(request: pytest.FixtureRequest) -> None:
    """What the waagent variant changes: cloud-init's units not enabled (waagent refuses to
    provision otherwise), the marker file, waagent as the provisioner, sshd's own host keys."""
    from images.fs import open_filesystems

    with open_filesystems(build_test_image("waagent")) as files:
        wants = "/etc/systemd/system/cloud-init.target.wants"
        assert not any(files.exists(f"{wants}/{unit}") for unit in CLOUD_INIT_UNITS)
        assert files.exists("/etc/cloud/cloud-init.disabled")
        conf = files.read_text("/etc/waagent.conf").splitlines()
        assert "Provisioning.Agent=waagent" in conf
        assert "Provisioning.SshHostKeyPairType=ed25519" in conf
        assert files.exists("/usr/bin/eject")  # waagent 2.7.3 crashes without it
        dropin = files.read_text("/etc/systemd/system/ssh.service.d/vmcert-hostkeys.conf")
        assert "ExecStartPre=/usr/bin/ssh-keygen -A" in dropin


def test_unknown_variant_is_a_usage_error() -> None:
    known = "azure, defective, gen2, good, nocloud, noeject, waagent"
    with pytest.raises(ImageInputError, match=f"known variants: {known}"):
        build_test_image("nope")


def test_not_root_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ImageInputError, match=r"needs root.*scripts/install\.sh"):
        build_test_image("good", cache_dir=tmp_path)
    assert not (tmp_path / "images").exists()


def test_missing_tool_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    real_which = shutil.which
    monkeypatch.setattr(
        shutil,
        "which",
        lambda tool, path=None: None if tool == "mmdebstrap" else real_which(tool, path=path),
    )
    with pytest.raises(
        ImageInputError, match=r"mmdebstrap, which is not.*bash scripts/install\.sh"
    ):
        build_test_image("good", cache_dir=tmp_path)


def test_sbin_tools_are_found_without_sbin_in_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    check_prerequisites(GEN2_TOOLS)  # mke2fs, chroot, mkfs.vfat live in sbin


def test_host_sources_deb822_and_one_line(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "debian.sources").write_text(
        "Types: deb deb-src\nURIs: http://mirror.invalid/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main contrib\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://other.invalid/thing\nSuites: nodistro\nComponents: main\n"
    )
    (tmp_path / "d" / "disabled.list.disabled-by-farm").write_text(
        "deb http://x.invalid/ bookworm main\n"
    )
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [signed-by=/k.gpg] http://sec.invalid/debian-security "
        "bookworm-security main\n"
    )
    sources = host_apt_sources(tmp_path / "sources.list", tmp_path / "d")
    assert (
        AptSource(
            "http://mirror.invalid/debian",
            ("bookworm", "bookworm-updates"),
            ("main", "contrib"),
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        )
        in sources
    )
    assert any(s.suites == ("bookworm-security",) for s in sources)
    assert all("x.invalid" not in s.uri and "other.invalid" not in s.uri for s in sources)
    assert sources[0].one_line().startswith("deb [signed-by=")


def test_host_sources_fill_in_updates_and_security(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://mirror.invalid/debian bookworm main\n")
    sources = host_apt_sources(tmp_path / "sources.list", tmp_path / "none")
    by_suite = {suite: s.uri for s in sources for suite in s.suites}
    assert by_suite["bookworm-updates"] == "http://mirror.invalid/debian"
    assert by_suite["bookworm-security"] == "http://mirror.invalid/debian-security"


def test_host_sources_without_bookworm_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://mirror.invalid/debian trixie main\n")
    with pytest.raises(ImageInputError, match="no 'bookworm' apt source"):
        host_apt_sources(tmp_path / "sources.list", tmp_path / "none")


def test_gpt_is_valid_with_esp_and_root(tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    size = 80 * MIB
    with open(disk, "wb") as handle:
        handle.truncate(size)
    parts = [
        (ESP_TYPE, MIB, 16 * MIB, "EFI system partition"),
        (LINUX_ROOT_X86_64_TYPE, 17 * MIB, 62 * MIB, "root"),
    ]
    write_gpt(disk, size, parts)
    found = _assert_gpt(disk, size)
    assert found == [
        (ESP_TYPE, 2048, 17 * 2048 - 1),
        (LINUX_ROOT_X86_64_TYPE, 17 * 2048, 79 * 2048 - 1),
    ]
    verify = subprocess.run(["sfdisk", "--verify", str(disk)], capture_output=True, text=True)
    assert verify.returncode == 0 and "No errors detected" in verify.stdout, verify


def _assert_gpt(path: Path, disk_bytes: int) -> list[tuple[uuid.UUID, int, int]]:
    """Check both GPT headers and their CRCs; return (type, first LBA, last LBA) per partition."""
    last_lba = disk_bytes // 512 - 1
    found: list[tuple[uuid.UUID, int, int]] = []
    with open(path, "rb") as handle:

        def read(lba: int, length: int) -> bytes:
            handle.seek(lba * 512)
            return handle.read(length)

        for lba, other in ((1, last_lba), (last_lba, 1)):
            header = read(lba, 92)
            assert header[:8] == b"EFI PART"
            assert struct.unpack("<QQ", header[24:40]) == (lba, other)
            crc = struct.unpack("<I", header[16:20])[0]
            assert zlib.crc32(header[:16] + b"\0\0\0\0" + header[20:]) == crc
            array_lba, count, entry_size, array_crc = struct.unpack("<QIII", header[72:92])
            array = read(array_lba, count * entry_size)
            assert zlib.crc32(array) == array_crc
            found = []
            for i in range(count):
                entry = array[i * entry_size : (i + 1) * entry_size]
                if entry[:16] != b"\0" * 16:
                    first, last = struct.unpack("<QQ", entry[32:48])
                    found.append((uuid.UUID(bytes_le=entry[:16]), first, last))
    return found


def test_mbr_has_one_active_linux_partition_at_2048(tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    size = 64 * MIB
    disk.write_bytes(b"")
    with open(disk, "r+b") as handle:
        handle.truncate(size)
    write_mbr(disk, size, b"\xeb\x63" + b"\x90" * 438)
    _assert_mbr(disk.read_bytes()[:512], size)


def _assert_mbr(sector: bytes, disk_bytes: int) -> None:
    assert sector[510:512] == b"\x55\xaa"
    entries = [sector[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    assert entries[0][0] == 0x80 and entries[0][4] == 0x83
    start, count = struct.unpack("<II", entries[0][8:16])
    assert start == 2048 and (start + count) * 512 == disk_bytes
    assert all(e == b"\x00" * 16 for e in entries[1:])


def test_cli_list_shows_variants_and_paths() -> None:
    from harness.cli.images import images_group

    result = CliRunner().invoke(images_group, ["list"])
    assert result.exit_code == 0, result.output
    assert str(cached_image_path("good")) in result.output
    assert "defective:" in result.output and "no_swap_on_os_disk" in result.output


def test_cli_build_rejects_unknown_variant() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "images", "build", "--variant", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "nope" in proc.stderr


# --- tests on the real images ---------------------------------------------------------------------


@pytest.mark.root
@needs_root
def test_cache_hit_returns_same_path_without_building(
    good_image: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Neither root nor a single tool: any prerequisite check or build step would raise.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("PATH", str(tmp_path))
    before = good_image.stat()
    assert build_test_image("good") == good_image
    after = good_image.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("variant", ["good", "defective", "gen2"])
def test_fixed_vhd_footer_and_mib_size(variant: str, request: pytest.FixtureRequest) -> None:
    image: Path = request.getfixturevalue(f"{variant}_image")
    data_size = image.stat().st_size - 512
    with open(image, "rb") as handle:
        handle.seek(data_size)
        footer = handle.read(512)
        handle.seek(0)
        mbr = handle.read(512)
    assert footer[:8] == b"conectix"
    current_size = struct.unpack(">Q", footer[48:56])[0]
    disk_type = struct.unpack(">I", footer[60:64])[0]
    assert disk_type == 2  # fixed
    assert current_size == data_size and current_size % MIB == 0
    if variant == "gen2":
        assert mbr[446 + 4] == 0xEE  # protective MBR; the GPT is checked below
    else:
        _assert_mbr(mbr, current_size)
    assert image.stat().st_blocks * 512 < image.stat().st_size  # kept sparse
    info = subprocess.run(
        ["qemu-img", "info", "-f", "vpc", str(image)], capture_output=True, text=True, check=True
    )
    assert f"({current_size} bytes)" in info.stdout


@pytest.mark.root
@needs_root
def test_good_image_is_configured_and_generalized(good_image: Path) -> None:
    cmdline = read_file(good_image, "/boot/extlinux/extlinux.conf") or ""
    for token in ("console=ttyS0,115200", "earlyprintk=ttyS0,115200", "rootdelay=300"):
        assert token in cmdline
    assert "libata.atapi_enabled=0" not in cmdline
    sshd = read_file(good_image, "/etc/ssh/sshd_config") or ""
    assert "\nClientAliveInterval 180\n" in sshd
    waagent = read_file(good_image, "/etc/waagent.conf") or ""
    assert "Provisioning.Agent=cloud-init" in waagent
    assert "ResourceDisk.Format=n" in waagent and "ResourceDisk.EnableSwap=n" in waagent
    assert "\nAutoUpdate.Enabled=n" not in waagent
    assert "targetpw" not in (read_file(good_image, "/etc/sudoers") or "")
    assert read_file(good_image, "/etc/machine-id") == ""
    assert "swap" not in (read_file(good_image, "/etc/fstab") or "")
    shadow = read_file(good_image, "/etc/shadow") or ""
    assert "\nroot:!" in "\n" + shadow
    assert all(line.split(":")[1][:1] in ("*", "!") for line in shadow.splitlines())
    assert "NoCloud" in (read_file(good_image, "/etc/cloud/cloud.cfg.d/90-vmcert.cfg") or "")
    suites = read_file(good_image, "/etc/apt/sources.list.d/debian.sources") or ""
    assert "bookworm-security" in suites and "bookworm-updates" in suites
    for absent in (
        "/root/.bash_history",
        "/etc/resolv.conf",
        "/swapfile",
        "/var/lib/waagent/ovf-env.xml",
        "/var/lib/dhcp/dhclient.eth0.leases",
        "/etc/modprobe.d/vmcert-defect-udf.conf",
        "/home/admin",
    ):
        assert read_file(good_image, absent) is None, absent
    assert not [n for n in list_dir(good_image, "/etc/ssh") if n.startswith("ssh_host_")]
    for empty in ("/var/lib/waagent", "/var/lib/cloud", "/var/lib/dhcp", "/home"):
        assert list_dir(good_image, empty) == [], empty


@pytest.mark.root
@needs_root
def test_defective_image_has_each_planted_defect(defective_image: Path) -> None:
    assert file_size(defective_image, "/root/.bash_history") == 4096
    cmdline = read_file(defective_image, "/boot/extlinux/extlinux.conf") or ""
    assert "earlyprintk" not in cmdline and "console=ttyS0,115200" in cmdline
    assert "libata.atapi_enabled=0" in cmdline
    sshd = read_file(defective_image, "/etc/ssh/sshd_config") or ""
    assert "\nClientAliveInterval 900\n" in sshd and "ClientAliveInterval 180" not in sshd
    assert "\nDefaults\ttargetpw\n" in (read_file(defective_image, "/etc/sudoers") or "")
    modprobe = read_file(defective_image, "/etc/modprobe.d/vmcert-defect-udf.conf")
    assert modprobe == "blacklist udf\n"
    assert "\nAutoUpdate.Enabled=n\n" in (read_file(defective_image, "/etc/waagent.conf") or "")
    shadow = read_file(defective_image, "/etc/shadow") or ""
    assert any(line.startswith("admin:$6$") for line in shadow.splitlines())
    assert read_file(defective_image, "/home/admin/.ssh/authorized_keys") is None
    assert file_size(defective_image, "/swapfile") == 64 * MIB
    assert "/swapfile none swap sw 0 0" in (read_file(defective_image, "/etc/fstab") or "")
    assert read_file(defective_image, "/var/lib/dhcp/dhclient.eth0.leases")
    assert read_file(defective_image, "/var/lib/waagent/ovf-env.xml")


@pytest.mark.root
@needs_root
def test_gen2_is_gpt_with_esp_booting_systemd_boot(gen2_image: Path, good_image: Path) -> None:
    parts = _assert_gpt(gen2_image, gen2_image.stat().st_size - 512)
    assert [p[0] for p in parts] == [ESP_TYPE, LINUX_ROOT_X86_64_TYPE]
    assert parts[0][1] == 2048
    esp = f"{gen2_image}@@{parts[0][1] * 512}"
    listing = subprocess.run(
        ["mdir", "-b", "-i", esp, "::/EFI/BOOT"], capture_output=True, text=True, check=True
    ).stdout
    assert "BOOTX64.EFI" in listing.upper()
    entry = subprocess.run(
        ["mtype", "-i", esp, "::/loader/entries/debian.conf"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    good_cmdline = (read_file(good_image, "/boot/extlinux/extlinux.conf") or "").split("APPEND ")[1]
    assert f"options {good_cmdline.strip()}" in entry
    # The root partition is the good image's file system, byte for byte.
    root_offset = parts[1][1] * 512
    fstab = subprocess.run(
        ["debugfs", "-R", "cat /etc/fstab", f"{gen2_image}?offset={root_offset}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert fstab == read_file(good_image, "/etc/fstab")


@pytest.mark.root
@needs_root
def test_cli_build_prints_the_path_last(good_image: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "images", "build"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip().splitlines()[-1] == str(good_image)


def _seed_cache(tmp_path: Path, good_image: Path) -> Path:
    """A private cache holding a (reflinked or sparse) copy of the good image."""
    cache = tmp_path / "cache"
    target = cached_image_path("good", cache)
    target.parent.mkdir(parents=True)
    subprocess.run(
        ["cp", "--reflink=auto", "--sparse=always", str(good_image), str(target)], check=True
    )
    return cache


def _builder(cache: Path, variant: str) -> subprocess.Popen[str]:
    code = (
        "import sys; from pathlib import Path; from images.recipe import build_test_image; "
        "print(build_test_image(sys.argv[1], cache_dir=Path(sys.argv[2]), "
        "progress=lambda m: print(m, file=sys.stderr, flush=True)))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, variant, str(cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.root
@needs_root
def test_concurrent_builders_build_once(tmp_path: Path, good_image: Path) -> None:
    cache = _seed_cache(tmp_path, good_image)
    first, second = _builder(cache, "defective"), _builder(cache, "defective")
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    paths = {out.strip() for out, _err in outputs}
    assert paths == {str(cached_image_path("defective", cache))}
    planted = sum("planting" in err for _out, err in outputs)
    assert planted == 1, outputs
    assert not list(cached_image_path("defective", cache).parent.glob(".build-*"))


@pytest.mark.root
@needs_root
def test_killed_build_leaves_no_image_and_no_mount(tmp_path: Path, good_image: Path) -> None:
    cache = _seed_cache(tmp_path, good_image)
    target = cached_image_path("defective", cache)
    proc = _builder(cache, "defective")
    deadline = time.monotonic() + 120
    while not list(target.parent.glob(".build-*/disk.vhd")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    with open("/proc/self/mounts") as mounts:
        assert str(target.parent) not in mounts.read()
    # The next build succeeds and sweeps the dead builder's temporary directory.
    assert build_test_image("defective", cache_dir=cache) == target
    assert target.is_file() and not list(target.parent.glob(".build-*"))


@needs_root
def test_datasources_of_the_good_azure_and_nocloud_images() -> None:
    """The good image offers both ways in (ds-identify picks the one the boot presents); the
    azure and nocloud variants keep one each; noeject is waagent without ``eject``."""
    from images.fs import open_filesystems

    def datasources(variant: str) -> list[str]:
        with open_filesystems(build_test_image(variant)) as files:
            text = files.read_text("/etc/cloud/cloud.cfg.d/90-vmcert.cfg")
        return [line for line in text.splitlines() if line.startswith("datasource_list:")]

    assert datasources("good") == ["datasource_list: [NoCloud, Azure, None]"]
    assert datasources("azure") == ["datasource_list: [ Azure ]"]
    assert datasources("nocloud") == ["datasource_list: [ NoCloud, None ]"]
    with open_filesystems(build_test_image("good")) as files:
        conf = files.read_text("/etc/waagent.conf").splitlines()
        assert "Provisioning.SshHostKeyPairType=ed25519" in conf  # cloud-init makes no RSA key
    with open_filesystems(build_test_image("noeject")) as files:
        assert not files.exists("/usr/bin/eject")
        assert files.exists("/etc/cloud/cloud-init.disabled")
