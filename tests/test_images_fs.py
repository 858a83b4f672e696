"""images.fs: files read straight out of real small images, in every format, without mounting."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from images.errors import ImageFormatError, ImageInputError
from images.fs import (
    EncryptedVolumeError,
    FileType,
    ImageFileNotFoundError,
    ImageFiles,
    ImageIsADirectoryError,
    ImageLimitError,
    ImageNotADirectoryError,
    ImagePathError,
    Limits,
    NoRootFilesystemError,
    SymlinkLoopError,
    UnreadableImageError,
    VirtualDisk,
    open_filesystems,
)
from images.fs.fstab import match_spec, parse_fstab
from images.fs.model import VolumeInfo
from images.partitions import Partition, read_partition_table
from tests.test_images_fs_support import (
    BAD_UTF8,
    DEEP,
    ESP_TYPE,
    HOSTILE_NAMES,
    LINUX_TYPE,
    LVM_TYPE,
    MANY,
    MIB,
    RECORDED_PV_SIZE,
    Part,
    convert,
    lvm_pv,
    make_disk,
    mkfs,
    recorded_pv,
    root_tree,
    tool,
)

FORMATS = ["raw", "vhd-fixed", "vhd-dynamic", "vhdx", "qcow2"]
ROOT_UUID = "6a1f0c2e-9d7b-4c1e-8f00-000000000001"
BOOT_UUID = "6a1f0c2e-9d7b-4c1e-8f00-000000000002"
HOME_UUID = "6a1f0c2e-9d7b-4c1e-8f00-000000000003"
ESP_ID = "1234ABCD"
EXTENT = 4 * MIB


def _esp_tree(path: Path) -> Path:
    (path / "EFI/BOOT").mkdir(parents=True)
    (path / "EFI/debian").mkdir(parents=True)
    (path / "EFI/BOOT/BOOTX64.EFI").write_bytes(b"MZ" + bytes(range(256)) * 40)
    (path / "EFI/debian/grub.cfg").write_text("search --fs-uuid x\n")
    return path


def _boot_tree(path: Path) -> Path:
    (path / "grub2").mkdir(parents=True)
    (path / "grub2/grub.cfg").write_text("set timeout=5\n")
    (path / "vmlinuz-6.1.0").write_bytes(b"kernel" * 100)
    (path / "initramfs-6.1.0.img").write_bytes(b"\x1f\x8b" + bytes(500))
    return path


@pytest.fixture(scope="module")
def mbr_disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian-like: MBR, ext4 root with hostile names, ext2 /boot by LABEL, swap by device."""
    tmp = tmp_path_factory.mktemp("mbr")
    fstab = (
        f"# /etc/fstab\nUUID={ROOT_UUID} / ext4 errors=remount-ro 0 1\n"
        "LABEL=BOOT /boot ext2 defaults 0 2\n/dev/sda3 none swap sw 0 0\n"
        "proc /proc proc defaults 0 0\n"
    )
    tree = root_tree(tmp / "root", fstab=fstab)
    root = mkfs("ext4", tree, tmp / "root.img", 96 * MIB, uuid=ROOT_UUID)
    boot = mkfs("ext2", _boot_tree(tmp / "boot"), tmp / "boot.img", 16 * MIB, label="BOOT")
    swap = mkfs("swap", None, tmp / "swap.img", 4 * MIB)
    parts = [Part(96, "83", root), Part(16, "83", boot), Part(4, "82", swap)]
    make_disk(tmp / "mbr.raw", parts, scheme="mbr")
    return tmp / "mbr.raw"


def _lvm_disk(tmp: Path, pv_head: bytes) -> Path:
    fstab = (
        "/dev/mapper/vmcertvg-root / xfs defaults 0 0\n"
        f"UUID={BOOT_UUID} /boot xfs defaults 0 0\n"
        f"UUID={ESP_ID[:4]}-{ESP_ID[4:]} /boot/efi vfat umask=0077,shortname=winnt 0 2\n"
        "/dev/vmcertvg/home /home ext4 defaults 0 0\n"
        "/dev/mapper/vmcertvg-swap none swap defaults 0 0\n"
    )
    tree = root_tree(tmp / "root", fstab=fstab, small=True)
    home_tree = tmp / "home"
    (tree / "home").rename(home_tree)
    (tree / "home").mkdir()
    root = mkfs("xfs", tree, tmp / "root.img", 64 * MIB, uuid=ROOT_UUID)
    home = mkfs("ext4", home_tree, tmp / "home.img", 16 * MIB, uuid=HOME_UUID)
    boot = mkfs("xfs", _boot_tree(tmp / "boot"), tmp / "boot.img", 64 * MIB, uuid=BOOT_UUID)
    esp = mkfs("vfat", _esp_tree(tmp / "esp"), tmp / "esp.img", 34 * MIB, uuid=ESP_ID)
    parts = [
        Part(34, ESP_TYPE, esp),
        Part(64, LINUX_TYPE, boot),
        Part(RECORDED_PV_SIZE // MIB, LVM_TYPE, None, pv_head),
    ]
    offsets = make_disk(tmp / "lvm.raw", parts)
    pv = offsets[2] + MIB  # first physical extent
    with open(tmp / "lvm.raw", "r+b") as disk:
        for image, extent in ((root, 0), (home, 16)):
            disk.seek(pv + extent * EXTENT)
            disk.write(image.read_bytes())
    return tmp / "lvm.raw"


@pytest.fixture(scope="module")
def lvm_disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RHEL-like: GPT, ESP (vfat), /boot (xfs), LVM PV with xfs root, ext4 home, swap LVs."""
    return _lvm_disk(tmp_path_factory.mktemp("lvm"), recorded_pv())


@pytest.fixture(scope="module", params=FORMATS)
def mbr_files(request: pytest.FixtureRequest, mbr_disk: Path) -> Iterator[ImageFiles]:
    image = convert(mbr_disk, str(request.param), mbr_disk.parent)
    with open_filesystems(image) as files:
        yield files


@pytest.fixture(scope="module", params=FORMATS)
def lvm_files(request: pytest.FixtureRequest, lvm_disk: Path) -> Iterator[ImageFiles]:
    image = convert(lvm_disk, str(request.param), lvm_disk.parent)
    with open_filesystems(image) as files:
        yield files


def _common_tree(files: ImageFiles) -> None:
    """What every root built by root_tree must show, whatever the file system and format."""
    assert files.read_text("/etc/ssh/sshd_config") == (
        "PermitRootLogin no\nPasswordAuthentication no\n"
    )
    shadow = files.stat("/etc/shadow")
    assert (shadow.type, shadow.mode, shadow.uid, shadow.gid) == (FileType.FILE, 0o640, 0, 42)
    assert files.stat("/etc/sudoers.d/90-cloud").mode == 0o440
    assert files.stat("/root").mode == 0o700
    assert files.read_text("/root/.bash_history") == "ls\nrm -rf /tmp/x\n"
    # Links: absolute targets resolve inside the image, relative through directories.
    assert files.read_link("/etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert files.resolve("/etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert files.read_file("/etc/localtime") == b"TZif2" + bytes(40)
    assert files.stat("/etc/localtime", follow_symlinks=False).type is FileType.SYMLINK
    assert files.stat("/bin/true").mode == 0o4755
    assert files.read_file("/bin/true")[:4] == b"\x7fELF"
    assert files.read_text("/etc/ssh-dir/sshd_config").startswith("PermitRootLogin")
    # Escapes stay inside the image's root.
    assert files.read_text("/etc/escape-relative") == "testhost\n"
    assert files.read_text("/etc/escape-absolute") == "testhost\n"
    assert files.read_text("/../../etc/./hostname") == "testhost\n"
    assert files.resolve("/etc/escape-relative") == "/etc/hostname"
    # Loops and chains: Linux's limit of 40 links.
    for loop in ("/etc/loop-a", "/etc/self", "/etc/self/x"):
        with pytest.raises(SymlinkLoopError, match="too many levels"):
            files.read_file(loop)
        assert not files.exists(loop)
    assert files.read_text("/etc/chain39") == "testhost\n"
    with pytest.raises(SymlinkLoopError):
        files.stat("/etc/chain40")
    assert files.read_link("/etc/chain44") == "chain43"
    with pytest.raises(ImageFileNotFoundError, match="no such file"):
        files.read_file("/etc/dangling")
    assert not files.exists("/etc/dangling")
    assert files.stat("/etc/dangling", follow_symlinks=False).type is FileType.SYMLINK
    # Types and limits.
    with pytest.raises(ImageIsADirectoryError):
        files.read_file("/etc")
    with pytest.raises(ImageNotADirectoryError):
        files.list_dir("/etc/hostname")
    with pytest.raises(ImageNotADirectoryError):
        files.read_file("/etc/hostname/x")
    with pytest.raises(ImageLimitError, match="3145728 bytes, over the 1024-byte"):
        files.read_file("/var/log/big.log", 1024)
    assert files.read_file("/var/log/big.log", 10, truncate=True) == b"L" * 10
    assert len(files.read_file("/var/log/big.log")) == 3 * MIB
    assert len(files.list_dir("/var/many")) == MANY
    assert files.read_text("/var/many/f01234") == "1234\n"
    deep = "/deep/" + "/".join(f"d{i}" for i in range(DEEP)) + "/leaf"
    assert files.read_text(deep) == "leaf\n"
    assert files.glob("/deep/**/leaf") == []  # deeper than Limits.max_depth
    assert files.glob("/etc/chain4?") == [f"/etc/chain{i}" for i in range(40, 45)]
    assert files.glob("/home/*/.ssh/authorized_keys") == ["/home/user/.ssh/authorized_keys"]
    assert files.glob("/root/*") == []  # a wildcard does not match a leading dot
    assert files.glob("/root/.*history") == ["/root/.bash_history"]
    assert files.read_text("/home/user/.ssh/authorized_keys") == "ssh-ed25519 AAAA test\n"
    assert files.stat("/home/user/.ssh/authorized_keys").uid == 1000
    with pytest.raises(ImageFileNotFoundError, match=r":/etc/missing: no such file"):
        files.read_file("/etc/missing")


def test_mbr_ext4_root_in_every_format(mbr_files: ImageFiles) -> None:
    files = mbr_files
    assert files.root_volume == "p1"
    assert [(v.id, v.filesystem, v.status) for v in files.volumes] == [
        ("p1", "ext4", "readable"),
        ("p2", "ext2", "readable"),
        ("p3", "swap", "swap"),
    ]
    assert files.volumes[0].uuid == ROOT_UUID
    assert [(m.path, m.volume) for m in files.mounts] == [("/boot", "p2")]
    _common_tree(files)
    assert files.read_text("/boot/grub2/grub.cfg") == "set timeout=5\n"
    assert files.stat("/boot/vmlinuz-6.1.0").volume == "p2"
    assert files.glob("/boot/vmlinuz-*") == ["/boot/vmlinuz-6.1.0"]
    # mkfs.ext4 -d keeps hard links (an xfs protofile cannot express them).
    assert files.stat("/etc/hostname").nlink == 2
    assert files.stat("/etc/hostname").inode == files.stat("/etc/hostname.hard").inode
    assert {e.name for e in files.list_dir("/boot")} >= {"grub2", "vmlinuz-6.1.0"}


def test_mbr_ext4_sparse_file_and_hostile_names(mbr_files: ImageFiles) -> None:
    files = mbr_files
    sparse = files.stat("/var/log/sparse")
    assert sparse.size == 1024 * MIB + 1
    with pytest.raises(ImageLimitError):
        files.read_file("/var/log/sparse")
    assert files.read_file("/var/log/sparse", 4, truncate=True) == bytes(4)
    names = {e.name for e in files.list_dir("/hostile")}
    assert names == {*HOSTILE_NAMES, os.fsdecode(BAD_UTF8)}
    for name in [*HOSTILE_NAMES, os.fsdecode(BAD_UTF8)]:
        expected = "bad\n" if name == os.fsdecode(BAD_UTF8) else f"{name}\n"
        assert files.read_text(f"/hostile/{name}") == expected
    with pytest.raises(ImageFileNotFoundError):
        files.read_file("/hostile/" + "x" * 256)


def test_lvm_xfs_root_boot_esp_in_every_format(lvm_files: ImageFiles) -> None:
    files = lvm_files
    assert files.root_volume == "lvm:vmcertvg/root"
    assert files.logical_volumes == ("vmcertvg/root", "vmcertvg/home", "vmcertvg/swap")
    kinds = {v.id: (v.filesystem, v.status) for v in files.volumes}
    assert kinds == {
        "p1": ("vfat", "readable"),
        "p2": ("xfs", "readable"),
        "p3": ("lvm2", "container"),
        "lvm:vmcertvg/root": ("xfs", "readable"),
        "lvm:vmcertvg/home": ("ext4", "readable"),
        "lvm:vmcertvg/swap": ("none", "empty"),
    }
    assert [(m.path, m.volume, m.fstype) for m in files.mounts] == [
        ("/boot", "p2", "xfs"),
        ("/boot/efi", "p1", "vfat"),
        ("/home", "lvm:vmcertvg/home", "ext4"),
    ]
    _common_tree(files)
    assert files.stat("/etc/hostname").volume == "lvm:vmcertvg/root"
    assert files.stat("/home/user/.ssh/authorized_keys").volume == "lvm:vmcertvg/home"
    assert files.read_text("/boot/grub2/grub.cfg") == "set timeout=5\n"
    efi = files.read_file("/boot/efi/EFI/BOOT/BOOTX64.EFI")
    assert efi == b"MZ" + bytes(range(256)) * 40
    # FAT: case-insensitive, owner and mode from the fstab options (umask=0077).
    assert files.read_file("/boot/efi/efi/boot/bootx64.efi") == efi
    esp = files.stat("/boot/efi/EFI/debian/grub.cfg")
    assert (esp.mode, esp.uid, esp.volume) == (0o700, 0, "p1")
    assert files.stat("/boot/efi/EFI").mode == 0o700
    assert [e.name for e in files.list_dir("/boot/efi/EFI")] == ["BOOT", "debian"]
    assert files.resolve("/boot/efi/../grub2/grub.cfg") == "/boot/grub2/grub.cfg"
    # xfs cannot express white space in a protofile: the rest of the hostile names are there.
    names = {e.name for e in files.list_dir("/hostile")}
    assert names == {n for n in HOSTILE_NAMES if not any(c.isspace() for c in n)}
    assert any("non-UTF-8" in note for note in files.notes)
    home = files.view("vmcertvg/home")
    assert home.read_text("/user/.ssh/authorized_keys") == "ssh-ed25519 AAAA test\n"


def test_lvm_made_by_the_tools_now(tmp_path: Path) -> None:
    """The same layout with a PV header made by today's LVM tools rather than the recorded one."""
    head = lvm_pv(tmp_path / "pv.img", RECORDED_PV_SIZE, "vmcertvg")
    with open_filesystems(_lvm_disk(tmp_path, head)) as files:
        assert files.logical_volumes == ("vmcertvg/root", "vmcertvg/home", "vmcertvg/swap")
        assert files.read_text("/home/user/.ssh/authorized_keys") == "ssh-ed25519 AAAA test\n"


def test_fstab_specs_match_volumes() -> None:
    volumes = [
        VolumeInfo("p1", "vfat", 1, "readable", uuid="ABCD-1234", partuuid="0011aabb-01"),
        VolumeInfo("p2", "ext4", 1, "readable", uuid=ROOT_UUID, label="root", partlabel="r x"),
        VolumeInfo("lvm:vg-1/lv_a", "xfs", 1, "readable"),
    ]
    text = (
        "UUID=abcd-1234 /boot/efi vfat umask=0077 0 1\n  # comment\n\n"
        f"UUID={ROOT_UUID.upper()} / ext4 defaults\nLABEL=root /x auto\n"
        "PARTUUID=0011AABB-01 /p vfat\nPARTLABEL=r\\040x /q ext4\n"
        "/dev/mapper/vg--1-lv_a /srv xfs\n/dev/vg-1/lv_a /srv2 xfs\n/dev/vda1 /v vfat\n"
        "/dev/nvme0n1p2 /n ext4\n/dev/disk/by-uuid/ABCD-1234 /u vfat\nnone\n"
    )
    entries = parse_fstab(text)
    assert entries[0].options == ("umask=0077",)
    got = [(e.path, (match_spec(e.spec, volumes) or volumes[0]).id) for e in entries]
    assert got == [
        ("/boot/efi", "p1"),
        ("/", "p2"),
        ("/x", "p2"),
        ("/p", "p1"),
        ("/q", "p2"),
        ("/srv", "lvm:vg-1/lv_a"),
        ("/srv2", "lvm:vg-1/lv_a"),
        ("/v", "p1"),
        ("/n", "p2"),
        ("/u", "p1"),
    ]
    assert match_spec("UUID=0000", volumes) is None
    assert match_spec("/dev/mapper/nohyphen", volumes) is None


def test_luks_root_is_reported_as_encrypted(tmp_path: Path) -> None:
    luks = b"LUKS\xba\xbe\x00\x01" + bytes(160) + b"0b7d5f0e-1111-4222-8333-444455556666"
    esp = mkfs("vfat", _esp_tree(tmp_path / "esp"), tmp_path / "esp.img", 34 * MIB)
    disk = tmp_path / "luks.raw"
    make_disk(disk, [Part(34, ESP_TYPE, esp), Part(16, LINUX_TYPE, None, luks)])
    with pytest.raises(EncryptedVolumeError, match=r"luks.raw: partition 2 is LUKS-encrypted"):
        open_filesystems(disk)
    root = mkfs(
        "ext4", root_tree(tmp_path / "root", hostile=False, small=True), tmp_path / "r", 64 * MIB
    )
    both = tmp_path / "both.raw"
    make_disk(both, [Part(64, "83", root), Part(16, "83", None, luks)], scheme="mbr")
    with open_filesystems(both) as files:
        assert files.volumes[1].status == "encrypted"
        assert files.volumes[1].uuid == "0b7d5f0e-1111-4222-8333-444455556666"
        assert files.read_text("/etc/hostname") == "testhost\n"
        with pytest.raises(EncryptedVolumeError, match="partition 2 is LUKS-encrypted"):
            files.view("p2")


def test_images_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="no such file"):
        open_filesystems(tmp_path / "missing.vhd")
    (tmp_path / "junk.img").write_bytes(os.urandom(4096))
    with pytest.raises(ImageFormatError, match=r"junk\.img"):
        open_filesystems(tmp_path / "junk.img")
    esp = mkfs("vfat", _esp_tree(tmp_path / "esp"), tmp_path / "esp.img", 34 * MIB)
    disk = tmp_path / "noroot.raw"
    make_disk(disk, [Part(34, ESP_TYPE, esp)])
    with pytest.raises(NoRootFilesystemError, match=r"noroot.raw: no Linux root .*p1 vfat"):
        open_filesystems(disk)
    with open_filesystems(disk, root="p1") as files:  # an explicit root need not be Linux
        assert files.read_text("/EFI/debian/grub.cfg") == "search --fs-uuid x\n"
    root = mkfs(
        "ext4", root_tree(tmp_path / "r", hostile=False, small=True), tmp_path / "r.img", 64 * MIB
    )
    make_disk(tmp_path / "small.raw", [Part(64, "83", root)], scheme="mbr")
    packed = convert(tmp_path / "small.raw", "qcow2-compressed", tmp_path)
    with pytest.raises(UnreadableImageError, match="compressed"), open_filesystems(packed) as files:
        files.read_text("/etc/hostname")
    overlay = tmp_path / "overlay.qcow2"
    tool("qemu-img")
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "raw",
            "-b",
            str(tmp_path / "small.raw"),
            str(overlay),
        ],
        check=True,
    )
    with pytest.raises(UnreadableImageError, match="backing file"):
        open_filesystems(overlay)


def test_paths_that_cannot_be_given(mbr_disk: Path) -> None:
    tight = Limits(max_symlinks=3, max_dir_entries=100, max_read_bytes=5, max_results=3)
    with open_filesystems(mbr_disk, limits=tight) as files:
        with pytest.raises(SymlinkLoopError):
            files.read_file("/etc/chain3")
        assert files.read_file("/etc/chain2", truncate=True) == b"testh"
        with pytest.raises(ImageLimitError, match="more than 100 entries"):
            files.list_dir("/var/many")
        with pytest.raises(ImageLimitError, match="over the 5-byte"):
            files.read_file("/etc/hostname", 1 << 30)
        with pytest.raises(ImageLimitError, match="more than 3 paths"):
            files.glob("/etc/chain*")
        with pytest.raises(ImageLimitError, match="longer than"):
            files.stat("/" + "a/" * 3000)
        with pytest.raises(ImagePathError, match="not a symbolic link"):
            files.read_link("/etc/hostname")
    with open_filesystems(mbr_disk, limits=Limits(max_depth=200)) as files:
        assert files.glob("/deep/**/leaf") == [
            "/deep/" + "/".join(f"d{i}" for i in range(DEEP)) + "/leaf"
        ]


def _partitions(image: Path) -> list[Partition]:
    with VirtualDisk(image) as disk:
        return list(read_partition_table(disk.read, disk.size, str(image)).partitions)


def _debugfs_cat(image: Path, offset: int, path: str) -> bytes:
    tool("debugfs")
    proc = subprocess.run(
        ["debugfs", "-R", f"cat {path}", f"{image}?offset={offset}"], capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_debian_test_images_read_like_debugfs_reads_them(
    good_image: Path, defective_image: Path, gen2_image: Path
) -> None:
    """The real distribution images (built on first use): same bytes as e2fsprogs' own reader,
    defects visible."""
    good = good_image
    with open_filesystems(good) as files:
        assert files.root_volume == "p1"
        assert "ID=debian\n" in files.read_text("/etc/os-release")
        fstab = parse_fstab(files.read_text("/etc/fstab"))
        assert fstab[0].path == "/" and fstab[0].spec == f"UUID={files.volumes[0].uuid}"
        assert files.glob("/boot/vmlinuz-*")
        assert not files.exists("/root/.bash_history")
        offset = next(p.start for p in _partitions(good) if p.index == 1)
        for path in ("/etc/passwd", "/etc/ssh/sshd_config", "/etc/fstab", "/etc/shadow"):
            assert files.read_file(path) == _debugfs_cat(good, offset, path)
    defective = defective_image
    with open_filesystems(defective) as files:
        assert files.read_text("/root/.bash_history")
        assert files.glob("/etc/modprobe.d/*udf*")
    gen2 = gen2_image
    with open_filesystems(gen2) as files:
        assert [(v.id, v.filesystem) for v in files.volumes] == [("p1", "vfat"), ("p2", "ext4")]
        assert files.root_volume == "p2"
        assert files.view("p1").glob("/EFI/*")
