"""The offline fact readers on real file systems built from a small Debian-like tree: each fact
is the text the probe would print there, and the checks judge it as they judge the probe's.

The trees are written into ext4 images with ``mkfs.ext4 -d`` (no mount, no root needed for the
tool); boot-loader, package-database and initramfs variants are built per test.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from checks.fact import FACTS, load_builtin_facts
from checks.model import Status
from checks.offline import read_image_facts
from checks.offline.image import OfflineError
from checks.offline.initramfs import list_names
from checks.offline.kernel import _from_setup_header
from checks.offline.packages import _rpm_sqlite
from checks.plan import CheckPlan
from checks.registry import select_checks
from tests.test_images_fs_support import ESP_TYPE, LINUX_TYPE, MIB, Part, make_disk, mkfs, tool
from tests.test_offline_support import HV_MODULES, KERNEL_VERSION, RELEASE, debian_tree, initramfs

load_builtin_facts()
PROBED = [f for f in FACTS if f.probed]


def _image(tmp: Path, tree: Path, *, size_mib: int = 48, esp: Path | None = None) -> Path:
    tool("mkfs.ext4", "sfdisk")
    root = mkfs("ext4", tree, tmp / "root.img", size_mib * MIB)
    parts = [Part(size_mib, LINUX_TYPE if esp is not None else "83", root)]
    if esp is not None:
        parts.insert(0, Part(34, ESP_TYPE, mkfs("vfat", esp, tmp / "esp.img", 34 * MIB)))
    make_disk(tmp / "disk.raw", parts, scheme="gpt" if esp is not None else "mbr")
    return tmp / "disk.raw"


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("debian")
    return _image(tmp, debian_tree(tmp / "root"))


def _read(image: Path, *names: str) -> dict[str, str]:
    wanted = [f for f in PROBED if not names or f.name in names]
    collection = read_image_facts(image, wanted, now=2_000_000_000)
    assert not collection.facts.errors, collection.facts.errors
    return dict(collection.facts.raw)


def test_texts_are_what_the_probes_print(debian: Path) -> None:
    texts = _read(debian)
    assert texts["os_release"].startswith("ID=debian\n")
    assert texts["accounts"].startswith(
        "### shadow\nroot locked\nalice hash\nbob empty\ncarol locked\n### authorized_keys\n"
        "/root/.ssh/authorized_keys root stub\n/home/alice/.ssh/authorized_keys alice key\n"
        "### key_ids\n0 "
    )
    assert texts["bash_history"].startswith("1800 root /root/.bash_history\n### ids\n0 ")
    assert texts["sudoers"] == (
        "/etc/sudoers:2:  Defaults targetpw\n/etc/sudoers:4:@includedir /etc/sudoers.d\n"
    )
    # /lib is /usr/lib here (usr-merge): read once, as the probe does
    assert texts["modprobe_blacklist"] == (
        "/etc/modprobe.d/blk.conf:blacklist vfat\n"
        "/etc/modprobe.d/blk.conf:  install udf /bin/true\n"
    )
    assert texts["waagent_conf"] == (
        "# AutoUpdate.Enabled=y\nAutoUpdate.Enabled=n\nResourceDisk.Format=y\n"
        "ResourceDisk.EnableSwap = y\n### cloud_init\n/etc/cloud/cloud.cfg:swap:\n"
        "/etc/cloud/cloud.cfg:  filename: /swap.img\ncloud_init_present=yes\n"
    )
    assert texts["repos"] == (
        "### /etc/apt/sources.list\ndeb http://deb.debian.org/debian bookworm main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n"
    )
    assert texts["swap"] == "### active\n### fstab\n/swapfile none swap sw\n"
    assert texts["glibc"] == "glibc 2.36\npackage=2.36-9+deb12u4\n"
    assert texts["openssl"] == (
        "OpenSSL 3.0.11 19 Sep 2023 (Library: OpenSSL 3.0.13 30 Jan 2024)\n"
    )
    assert texts["python"] == "Python 3.11.2\n"
    assert texts["agent_version"] == "package=2.9.0.4-2\n"
    assert texts["deprovision_state"] == (
        "btime=2000000000\n### host_keys\n"
        + f"{_mtime(texts, '/etc/ssh/ssh_host_ed25519_key')} /etc/ssh/ssh_host_ed25519_key\n"
        + "### dhcp_leases\n"
        + f"{_mtime(texts, '/var/lib/dhcp/dhclient.eth0.leases')} "
        "/var/lib/dhcp/dhclient.eth0.leases\n### waagent\n"
        + f"{_mtime(texts, '/var/lib/waagent/ovf-env.xml')} /var/lib/waagent/ovf-env.xml\n"
        "### cloud_instances\n0 other /var/lib/cloud/instances/iid-1\n### resolv_conf\n"
        "symlink ../run/systemd/resolve/stub-resolv.conf\n"
    )


def _mtime(texts: dict[str, str], path: str) -> str:
    line = next(ln for ln in texts["deprovision_state"].splitlines() if ln.endswith(" " + path))
    assert int(line.split()[0]) > 1_500_000_000
    return line.split()[0]


def test_sshd_effective_values_follow_include_and_stop_at_match(debian: Path) -> None:
    texts = _read(debian, "sshd")
    effective = texts["sshd"].split("### main_config")[0]
    assert "clientaliveinterval 180\n" in effective  # 3m from the drop-in, first value wins
    assert "port 2222\n" in effective and "passwordauthentication yes\n" in effective
    assert texts["sshd"].endswith(  # the main file's lines as grep shows them, Match or not
        "### main_config\n1:Include /etc/ssh/sshd_config.d/*.conf\n3:ClientAliveInterval 120\n"
        "5:  ClientAliveInterval 5\n"
    )


def test_boot_entry_kernel_and_initramfs(debian: Path) -> None:
    texts = _read(debian, "cmdline", "uname", "initramfs_modules", "bootloader_config")
    # grubenv's saved_entry picks the rescue entry inside the submenu
    assert texts["cmdline"] == (
        f"BOOT_IMAGE=/boot/vmlinuz-{RELEASE} root=UUID=0f0e-1 ro single libata.atapi_enabled=0\n"
    )
    assert texts["uname"] == f"machine=x86_64\nrelease={RELEASE}\nversion={KERNEL_VERSION}\n"
    assert texts["initramfs_modules"] == (
        f"release={RELEASE}\n### builtin\n### initramfs\nimage=/boot/initrd.img-{RELEASE}\n"
        + "".join(f"{m}\n" for m in HV_MODULES)
    )
    assert texts["bootloader_config"].startswith("### /boot/grub/grub.cfg\n  linux /boot/vmlinuz")


def test_checks_judge_the_files_like_the_probes(debian: Path) -> None:
    collection = read_image_facts(debian, PROBED, now=2_000_000_000)
    results = {
        r.check_id: r
        for r in CheckPlan(select_checks()).evaluate(
            collection.facts, unavailable=collection.unavailable
        )
    }
    failed = {cid for cid, r in results.items() if r.status is Status.FAIL}
    assert failed >= {
        "no_default_credentials",
        "bash_history",
        "sudoers_no_targetpw",
        "udf_vfat_enabled",
        "waagent_auto_update",
        "generalized",
        "grub_no_ata_params",
        "kernel_cmdline_console",
        "no_swap_on_os_disk",
    }
    assert results["ssh_client_alive_interval"].status is Status.PASS
    assert results["hyperv_initramfs"].status is Status.PASS
    assert results["ssh_enabled"].status is Status.SKIPPED
    assert results["ssh_enabled"].not_judged.startswith("ssh_service: needs a running system")
    assert results["bash_history"].sources == {"bash_history": "offline"}
    assert results["bash_history"].source == "offline"


def test_systemd_boot_on_an_unmounted_esp(tmp_path: Path) -> None:
    tree = debian_tree(tmp_path / "root", grub=False)
    esp = tmp_path / "esp"
    (esp / "loader/entries").mkdir(parents=True)
    (esp / "loader/loader.conf").write_text("default debian*\ntimeout 0\n")
    (esp / "loader/entries/debian-6.1.conf").write_text(
        "title Debian\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=UUID=1 console=ttyS0\n"
    )
    (esp / "loader/entries/other.conf").write_text("title x\nlinux /other\noptions quiet\n")
    (esp / "vmlinuz").write_bytes((tree / f"boot/vmlinuz-{RELEASE}").read_bytes())
    texts = _read(_image(tmp_path, tree, esp=esp), "cmdline", "uname")
    assert texts["cmdline"] == "initrd=\\initrd.img root=UUID=1 console=ttyS0\n"
    assert f"release={RELEASE}\n" in texts["uname"]


@pytest.mark.parametrize(
    ("config", "cmdline"),
    [
        (
            "DEFAULT b\nAPPEND quiet\nLABEL a\n  LINUX /a\nLABEL b\n  KERNEL /boot/vmlinuz\n"
            "  INITRD /boot/initrd\n",
            "BOOT_IMAGE=/boot/vmlinuz quiet initrd=/boot/initrd",
        ),
        (
            "LABEL a\n  LINUX /a\n  APPEND x=1\nLABEL b\n  MENU DEFAULT\n  LINUX /b\n  APPEND -\n",
            "BOOT_IMAGE=/b",
        ),
    ],
)
def test_extlinux_default_label(tmp_path: Path, config: str, cmdline: str) -> None:
    tree = debian_tree(tmp_path / "root", grub=False)
    (tree / "boot/extlinux").mkdir()
    (tree / "boot/extlinux/extlinux.conf").write_text(config)
    assert _read(_image(tmp_path, tree), "cmdline")["cmdline"] == cmdline + "\n"


def test_grub_bls_entries_with_kernelopts(tmp_path: Path) -> None:
    tree = debian_tree(tmp_path / "root", grub=False)
    (tree / "boot/grub2").mkdir()
    (tree / "boot/grub2/grub.cfg").write_text('load_env\nset default="${saved_entry}"\nblscfg\n')
    (tree / "boot/grub2/grubenv").write_text(
        "saved_entry=abc-5.14.0-1\nkernelopts=root=/dev/x ro\n"
    )
    entries = tree / "boot/loader/entries"
    entries.mkdir(parents=True)
    (entries / "abc-5.14.0-1.conf").write_text("linux /vmlinuz-5.14.0-1\noptions $kernelopts a=1\n")
    (entries / "abc-5.14.0-2.conf").write_text("linux /vmlinuz-5.14.0-2\noptions new\n")
    assert _read(_image(tmp_path, tree), "cmdline")["cmdline"] == (
        "BOOT_IMAGE=/vmlinuz-5.14.0-1 root=/dev/x ro a=1\n"
    )


def test_hostile_files_give_one_error_each_never_a_crash(tmp_path: Path) -> None:
    tree = debian_tree(tmp_path / "root")
    (tree / "etc/ssh/sshd_config").unlink()
    (tree / "etc/ssh/sshd_config").symlink_to("sshd_config")  # a loop: [ -f ] is false
    (tree / "etc/sudoers").write_bytes(b"#" * (5 * MIB))  # over the text limit
    (tree / "etc/sudoers.d/bad\xff\xfename".encode().decode("utf-8", "surrogateescape")).write_text(
        "Defaults targetpw\n"
    )
    (tree / "boot/grub/grub.cfg").write_text("menuentry 'broken' {\n")
    collection = read_image_facts(_image(tmp_path, tree, size_mib=64), PROBED)
    errors = dict(collection.facts.errors)
    assert set(errors) == {"sudoers", "cmdline", "uname", "initramfs_modules"}, errors
    assert "over the" in errors["sudoers"] and "read limit" in errors["sudoers"]
    assert "no menu entry with a linux line" in errors["cmdline"]
    assert "sshd" in collection.facts  # the loop reads as "no sshd_config", like [ -f ]
    results = {
        r.check_id: r
        for r in CheckPlan(select_checks()).evaluate(
            collection.facts, unavailable=collection.unavailable
        )
    }
    assert results["sudoers_no_targetpw"].status is Status.ERROR
    assert "read limit" in results["sudoers_no_targetpw"].message
    assert results["kernel_cmdline_console"].status is Status.ERROR


def test_images_without_a_readable_root_are_not_judged(tmp_path: Path) -> None:
    tool("sfdisk")
    data = mkfs("vfat", None, tmp_path / "data.img", 34 * MIB)
    make_disk(tmp_path / "disk.raw", [Part(34, "0c", data)], scheme="mbr")
    # every check registered now (plugins other tests registered included), as certify plans it
    plan = CheckPlan(select_checks())
    probed = [f for f in plan.facts_needed() if f.probed]
    collection = read_image_facts(tmp_path / "disk.raw", probed)
    assert not collection.facts and set(collection.unavailable) == {f.name for f in probed}
    assert "no Linux root file system" in collection.unavailable["accounts"]
    results = plan.evaluate(collection.facts, unavailable=collection.unavailable)
    content = [r for r in results if r.area not in ("image",)]
    assert content and all(r.status is Status.SKIPPED and r.not_judged for r in content)


def test_unusable_bytes_are_errors_naming_why(tmp_path: Path) -> None:
    junk = tmp_path / "junk.raw"
    junk.write_bytes(b"\0" * (4 * MIB))
    collection = read_image_facts(junk, PROBED)
    assert "not a disk image" in collection.facts.errors["sudoers"]
    assert "dmesg" in collection.unavailable


# -- building blocks ---------------------------------------------------------------------------


def _zstd(data: bytes) -> bytes:
    zstd = pytest.importorskip("backports.zstd")
    out: bytes = zstd.compress(data)
    return out


@pytest.mark.parametrize(
    "compress",
    [
        gzip.compress,
        lzma.compress,
        bz2.compress,
        _zstd,
        lambda d: lzma.compress(d, lzma.FORMAT_ALONE),
    ],
)
def test_initramfs_listing_in_every_compression(compress: Callable[[bytes], bytes]) -> None:
    data = initramfs(compress)

    def read(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    names = list(list_names(read, len(data), lambda: None))
    assert names[0] == "kernel/x86/microcode/GenuineIntel.bin"
    assert names[-3:] == list(HV_MODULES) and len(names) == 2 + 50 + 3


def test_initramfs_corruption_is_an_offline_error() -> None:
    data = bytearray(initramfs(microcode=False))
    data[40:200] = b"\xff" * 160

    def read(offset: int, length: int) -> bytes:
        return bytes(data[offset : offset + length])

    with pytest.raises(OfflineError):
        list(list_names(read, len(data), lambda: None))


def test_kernel_setup_header() -> None:
    from tests.test_offline_support import bzimage

    info = _from_setup_header(bzimage())
    assert info is not None and (info.machine, info.release, info.version) == (
        "x86_64",
        RELEASE,
        KERNEL_VERSION,
    )
    assert _from_setup_header(b"\0" * 0x1000) is None


def _rpm_header(tags: dict[int, str]) -> bytes:
    index, store = b"", b""
    for tag, value in tags.items():
        index += struct.pack(">iIiI", tag, 6, len(store), 1)
        store += value.encode() + b"\0"
    return struct.pack(">II", len(tags), len(store)) + index + store


def test_rpm_sqlite_database() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
    db.execute(
        "INSERT INTO Packages VALUES (1, ?)",
        (_rpm_header({1000: "glibc", 1001: "2.34", 1002: "100.el9"}),),
    )
    db.execute("INSERT INTO Packages VALUES (2, ?)", (b"\xff\xff\xff\xff junk",))
    db.commit()
    packages = list(_rpm_sqlite(db.serialize()))
    assert [(p.name, p.version) for p in packages] == [("glibc", "2.34-100.el9")]


def test_dracut_initramfs_is_listed_as_the_probe_lists_it(tmp_path: Path) -> None:
    """A RHEL-like tree (dracut: no lsinitramfs, the image at /boot/initramfs-REL.img, cpio
    installed): ``image=`` names that file and the names follow, as the probe prints them; with
    only lsinitrd and no cpio, the probe's fallback is announced (``image=lsinitrd``)."""
    root = debian_tree(tmp_path / "root")
    (root / "usr/bin/lsinitramfs").unlink()
    (root / f"boot/initrd.img-{RELEASE}").rename(root / f"boot/initramfs-{RELEASE}.img")
    (root / "usr/bin/cpio").write_bytes(b"\x7fELF")
    (root / "usr/bin/cpio").chmod(0o755)
    (root / "usr/bin/lsinitrd").write_text("#!/bin/bash\n")
    (root / "usr/bin/lsinitrd").chmod(0o755)
    text = _read(_image(tmp_path, root), "initramfs_modules")["initramfs_modules"]
    assert text == (
        f"release={RELEASE}\n### builtin\n### initramfs\nimage=/boot/initramfs-{RELEASE}.img\n"
        + "".join(f"{m}\n" for m in HV_MODULES)
    )
    (root / "usr/bin/cpio").unlink()
    (tmp_path / "disk.raw").unlink()
    text = _read(_image(tmp_path, root), "initramfs_modules")["initramfs_modules"]
    assert "\nimage=lsinitrd\n" in text
