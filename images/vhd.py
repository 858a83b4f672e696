"""Image formats from the bytes: the VHD footer, and detection of VHD/VHDX/qcow2/raw.

The VHD footer layout (512 bytes, big-endian, at the end of the file) follows the field table in
azure-certification.md §3 and QEMU's ``block/vpc.c``. Detection never trusts the file name.
Parsing functions raise only :class:`~images.errors.ImageFormatError` for bad bytes.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Protocol

from images.errors import ImageFormatError

FOOTER_SIZE = 512
COOKIE = b"conectix"
FIXED_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
"""Data offset of a fixed VHD (no dynamic header)."""
VHD_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MAX_CHS_SECTORS = 65535 * 16 * 255

_FOOTER = struct.Struct(">8sIIQI4sI4sQQHBBII16sB427s")
assert _FOOTER.size == FOOTER_SIZE


class DiskType(IntEnum):
    """The footer's disk-type field (``VHD_FIXED = 2`` etc. in QEMU's vpc.c)."""

    NONE = 0
    RESERVED_1 = 1
    FIXED = 2
    DYNAMIC = 3
    DIFFERENCING = 4
    RESERVED_5 = 5
    RESERVED_6 = 6


class ImageFormat(StrEnum):
    """What the bytes of an image file are."""

    VHD_FIXED = "vhd-fixed"
    VHD_DYNAMIC = "vhd-dynamic"
    VHD_DIFFERENCING = "vhd-differencing"
    VHDX = "vhdx"
    QCOW2 = "qcow2"
    RAW = "raw"
    UNKNOWN = "unknown"

    @property
    def qemu_name(self) -> str | None:
        """The ``qemu-img -f`` name of this format (None for unknown)."""
        return {
            ImageFormat.VHD_FIXED: "vpc",
            ImageFormat.VHD_DYNAMIC: "vpc",
            ImageFormat.VHD_DIFFERENCING: "vpc",
            ImageFormat.VHDX: "vhdx",
            ImageFormat.QCOW2: "qcow2",
            ImageFormat.RAW: "raw",
        }.get(self)


def footer_checksum(footer: bytes) -> int:
    """The VHD checksum: one's complement of the byte sum, the checksum field (64..67) excluded."""
    if len(footer) != FOOTER_SIZE:
        raise ImageFormatError(f"a VHD footer is {FOOTER_SIZE} bytes, got {len(footer)}")
    total = sum(footer) - sum(footer[64:68])
    return ~total & 0xFFFFFFFF


def chs_geometry(size: int) -> tuple[int, int, int]:
    """(cylinders, heads, sectors per track) for ``size`` bytes, per the VHD specification."""
    total = min(size // 512, MAX_CHS_SECTORS)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cyl_heads = total // spt
    else:
        spt = 17
        cyl_heads = total // spt
        heads = max((cyl_heads + 1023) // 1024, 4)
        if cyl_heads >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cyl_heads = total // spt
        if cyl_heads >= heads * 1024:
            spt, heads = 63, 16
            cyl_heads = total // spt
    return cyl_heads // heads, heads, spt


@dataclass(frozen=True)
class VhdFooter:
    """Every field of a VHD footer, plus the checksum recomputed from its bytes."""

    cookie: bytes
    features: int
    version: int
    """File format version, ``0x00010000`` for 1.0."""
    data_offset: int
    timestamp: int
    """Seconds since 2000-01-01 00:00:00 UTC."""
    creator_app: str
    creator_version: int
    creator_host_os: str
    original_size: int
    current_size: int
    """The virtual size in bytes."""
    cylinders: int
    heads: int
    sectors_per_track: int
    disk_type: int
    checksum: int
    unique_id: uuid.UUID
    saved_state: int
    computed_checksum: int

    @property
    def cookie_ok(self) -> bool:
        """Whether the cookie is ``conectix``."""
        return self.cookie == COOKIE

    @property
    def checksum_ok(self) -> bool:
        """Whether the stored checksum matches the bytes."""
        return self.checksum == self.computed_checksum

    @property
    def disk_type_name(self) -> str:
        """``fixed``, ``dynamic``, ``differencing`` or ``unknown (N)``."""
        names: dict[int, str] = {2: "fixed", 3: "dynamic", 4: "differencing"}
        return names.get(self.disk_type, f"unknown ({self.disk_type})")

    @property
    def created(self) -> datetime:
        """The timestamp as an aware datetime."""
        return VHD_EPOCH + timedelta(seconds=self.timestamp)

    @property
    def version_text(self) -> str:
        """``major.minor`` of the file format version."""
        return f"{self.version >> 16}.{self.version & 0xFFFF}"

    def to_bytes(self, *, fix_checksum: bool = False) -> bytes:
        """Serialize; with ``fix_checksum`` the checksum field is recomputed."""
        raw = _FOOTER.pack(
            self.cookie,
            self.features,
            self.version,
            self.data_offset,
            self.timestamp,
            self.creator_app.encode("latin-1")[:4].ljust(4),
            self.creator_version,
            self.creator_host_os.encode("latin-1")[:4].ljust(4),
            self.original_size,
            self.current_size,
            self.cylinders,
            self.heads,
            self.sectors_per_track,
            self.disk_type,
            self.checksum,
            self.unique_id.bytes,
            self.saved_state,
            bytes(427),
        )
        if fix_checksum:
            raw = raw[:64] + footer_checksum(raw).to_bytes(4, "big") + raw[68:]
        return raw

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form of every field."""
        return {
            "cookie": self.cookie.decode("latin-1"),
            "features": self.features,
            "version": self.version_text,
            "data_offset": self.data_offset,
            "timestamp": self.timestamp,
            "created": self.created.isoformat(),
            "creator_app": self.creator_app,
            "creator_version": f"{self.creator_version >> 16}.{self.creator_version & 0xFFFF}",
            "creator_host_os": self.creator_host_os,
            "original_size": self.original_size,
            "current_size": self.current_size,
            "geometry": {
                "cylinders": self.cylinders,
                "heads": self.heads,
                "sectors_per_track": self.sectors_per_track,
            },
            "disk_type": self.disk_type_name,
            "checksum": f"0x{self.checksum:08x}",
            "computed_checksum": f"0x{self.computed_checksum:08x}",
            "checksum_ok": self.checksum_ok,
            "unique_id": str(self.unique_id),
            "saved_state": self.saved_state,
        }


def parse_footer(raw: bytes) -> VhdFooter:
    """Parse 512 footer bytes; a wrong length or cookie raises ImageFormatError.

    A checksum mismatch does not raise: it is reported through :attr:`VhdFooter.checksum_ok`.
    """
    if len(raw) != FOOTER_SIZE:
        raise ImageFormatError(f"VHD footer truncated: {len(raw)} of {FOOTER_SIZE} bytes")
    fields = _FOOTER.unpack(raw)
    (cookie, features, version, data_offset, timestamp, app, app_version, host_os) = fields[:8]
    original, current, cylinders, heads, spt, disk_type, checksum, uid, saved = fields[8:17]
    if cookie != COOKIE:
        raise ImageFormatError(f"not a VHD footer: cookie {cookie!r}, expected {COOKIE!r}")
    return VhdFooter(
        cookie=cookie,
        features=features,
        version=version,
        data_offset=data_offset,
        timestamp=timestamp,
        creator_app=app.decode("latin-1"),
        creator_version=app_version,
        creator_host_os=host_os.decode("latin-1"),
        original_size=original,
        current_size=current,
        cylinders=cylinders,
        heads=heads,
        sectors_per_track=spt,
        disk_type=disk_type,
        checksum=checksum,
        unique_id=uuid.UUID(bytes=uid),
        saved_state=saved,
        computed_checksum=footer_checksum(raw),
    )


def build_footer(
    current_size: int,
    *,
    disk_type: int = DiskType.FIXED,
    data_offset: int | None = None,
    timestamp: int = 0,
    unique_id: uuid.UUID | None = None,
    creator_app: str = "vmct",
) -> bytes:
    """A valid footer (correct checksum) for a disk of ``current_size`` bytes."""
    cylinders, heads, spt = chs_geometry(current_size)
    footer = VhdFooter(
        cookie=COOKIE,
        features=2,  # the "reserved" bit the specification says must be set
        version=0x00010000,
        data_offset=FIXED_DATA_OFFSET
        if data_offset is None and disk_type == DiskType.FIXED
        else (data_offset if data_offset is not None else FOOTER_SIZE),
        timestamp=timestamp,
        creator_app=creator_app,
        creator_version=0x00010000,
        creator_host_os="Wi2k",
        original_size=current_size,
        current_size=current_size,
        cylinders=cylinders,
        heads=heads,
        sectors_per_track=spt,
        disk_type=disk_type,
        checksum=0,
        unique_id=unique_id or uuid.UUID(int=0),
        saved_state=0,
        computed_checksum=0,
    )
    return footer.to_bytes(fix_checksum=True)


class Reader(Protocol):
    """Random access to the bytes of a file (``pread`` semantics: short at the end)."""

    def __call__(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True)
class FormatProbe:
    """The result of :func:`probe_format`."""

    format: ImageFormat
    footer: VhdFooter | None
    virtual_size: int | None
    """Bytes of the virtual disk; None where the header could not tell."""
    detail: str = ""
    """For ``unknown``: what the bytes look like (``vmdk``, ``vdi``, ...) when recognised."""


_QCOW2_MAGIC = b"QFI\xfb"
_VHDX_MAGIC = b"vhdxfile"
_VHDX_REGION_SIG = b"regi"
_VHDX_BAT_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
_VHDX_METADATA_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
_VHDX_FILE_PARAMETERS_GUID = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
_VHDX_VIRTUAL_SIZE_GUID = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
_VHDX_LOGICAL_SECTOR_GUID = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")


@dataclass(frozen=True)
class VhdxLayout:
    """What is needed to read a VHDX's virtual disk (fields None where not found)."""

    virtual_size: int | None
    block_size: int | None
    logical_sector_size: int | None
    bat_offset: int | None
    bat_length: int | None
    has_parent: bool
    log_pending: bool
    """A non-empty log must be replayed before the data can be trusted."""


def vhdx_layout(read: Reader) -> VhdxLayout:
    """Parse the VHDX headers, region table and metadata items (checksums are not verified)."""
    log_pending = False
    best_sequence = -1
    for header_offset in (64 * 1024, 128 * 1024):
        header = read(header_offset, 80)
        if len(header) == 80 and header[:4] == b"head":
            sequence = int.from_bytes(header[8:16], "little")
            if sequence > best_sequence:
                best_sequence = sequence
                log_pending = bool(header[48:64].strip(b"\0"))
    regions: dict[uuid.UUID, tuple[int, int]] = {}
    for table_offset in (192 * 1024, 256 * 1024):
        table = read(table_offset, 64 * 1024)
        if len(table) < 16 or table[:4] != _VHDX_REGION_SIG:
            continue
        count = int.from_bytes(table[8:12], "little")
        for i in range(min(count, 2047)):
            entry = table[16 + 32 * i : 48 + 32 * i]
            if len(entry) < 32:
                break
            regions[uuid.UUID(bytes_le=entry[:16])] = (
                int.from_bytes(entry[16:24], "little"),
                int.from_bytes(entry[24:28], "little"),
            )
        break
    items: dict[uuid.UUID, bytes] = {}
    if _VHDX_METADATA_GUID in regions:
        meta_offset, _ = regions[_VHDX_METADATA_GUID]
        meta = read(meta_offset, 64 * 1024)
        if meta[:8] == b"metadata":
            entries = int.from_bytes(meta[10:12], "little")
            for j in range(min(entries, 2047)):
                item = meta[32 + 32 * j : 64 + 32 * j]
                if len(item) < 32:
                    break
                value_at = int.from_bytes(item[16:20], "little")
                length = min(int.from_bytes(item[20:24], "little"), 64)
                items[uuid.UUID(bytes_le=item[:16])] = read(meta_offset + value_at, length)

    def number(key: uuid.UUID, size: int) -> int | None:
        raw = items.get(key, b"")
        return int.from_bytes(raw[:size], "little") if len(raw) >= size else None

    params = items.get(_VHDX_FILE_PARAMETERS_GUID, b"")
    bat = regions.get(_VHDX_BAT_GUID)
    return VhdxLayout(
        virtual_size=number(_VHDX_VIRTUAL_SIZE_GUID, 8),
        block_size=number(_VHDX_FILE_PARAMETERS_GUID, 4),
        logical_sector_size=number(_VHDX_LOGICAL_SECTOR_GUID, 4),
        bat_offset=bat[0] if bat else None,
        bat_length=bat[1] if bat else None,
        has_parent=len(params) >= 8 and bool(params[4] & 0x2),
        log_pending=log_pending,
    )


def _looks_raw(head: bytes) -> bool:
    """A raw disk: an MBR/GPT or a file system at offset 0 (heuristic for non-container bytes)."""
    from images.filesystems import detect_filesystem_bytes

    if len(head) >= 512 and head[510:512] == b"\x55\xaa":
        return True
    if head[512:520] == b"EFI PART":
        return True
    return detect_filesystem_bytes(head) != "none"


def _unknown_detail(head: bytes) -> str:
    if head[:4] == b"KDMV" or head[:21] == b"# Disk DescriptorFile":
        return "vmdk"
    if len(head) >= 0x44 and head[0x40:0x44] == b"\x7f\x10\xda\xbe":
        return "vdi"
    if head[:4] == b"QEF\x00":
        return "qed"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(head) > 0x8006 and head[0x8001:0x8006] == b"CD001":
        return "iso9660"
    if not head.strip(b"\0"):
        return "all zeros at the start"
    return ""


def probe_format(read: Reader, size: int, name: str) -> FormatProbe:
    """Identify the format of a file of ``size`` bytes readable through ``read``.

    ``name`` is used only in error messages. A VHD footer that is cut short or followed by extra
    bytes raises :class:`ImageFormatError`; bytes that match no format give ``UNKNOWN``.
    """
    if size == 0:
        raise ImageFormatError(f"{name}: empty file (0 bytes), not a disk image")
    head = read(0, 64 * 1024)
    tail_start = max(0, size - 2 * FOOTER_SIZE)
    tail = read(tail_start, size - tail_start)
    if head[:8] == _VHDX_MAGIC:
        return FormatProbe(ImageFormat.VHDX, None, vhdx_layout(read).virtual_size)
    if head[:4] == _QCOW2_MAGIC and len(head) >= 32:
        version = int.from_bytes(head[4:8], "big")
        if version in (2, 3):
            return FormatProbe(ImageFormat.QCOW2, None, int.from_bytes(head[24:32], "big"))
    if size >= FOOTER_SIZE and tail[-FOOTER_SIZE:][:8] == COOKIE:
        footer = parse_footer(tail[-FOOTER_SIZE:])
        kinds: dict[int, ImageFormat] = {
            DiskType.FIXED: ImageFormat.VHD_FIXED,
            DiskType.DYNAMIC: ImageFormat.VHD_DYNAMIC,
            DiskType.DIFFERENCING: ImageFormat.VHD_DIFFERENCING,
        }
        kind = kinds.get(footer.disk_type)
        if kind is None:
            raise ImageFormatError(
                f"{name}: VHD footer has disk type {footer.disk_type}, not fixed (2), "
                "dynamic (3) or differencing (4)"
            )
        return FormatProbe(kind, footer, footer.current_size)
    # A cookie near the end but not exactly 512 bytes before it: cut or padded footer.
    at = tail.rfind(COOKIE)
    if at >= 0:
        position = tail_start + at
        present = size - position
        if present < FOOTER_SIZE:
            raise ImageFormatError(
                f"{name}: VHD footer truncated: cookie 'conectix' at byte {position} leaves "
                f"{present} of {FOOTER_SIZE} footer bytes (the file was cut short)"
            )
        raise ImageFormatError(
            f"{name}: {present - FOOTER_SIZE} stray bytes after the VHD footer at byte "
            f"{position}; the footer must be the last 512 bytes (truncate -s {position + 512})"
        )
    if head[:8] == COOKIE:
        raise ImageFormatError(
            f"{name}: VHD footer copy at offset 0 but no footer in the last 512 bytes "
            "(dynamic VHD cut short?)"
        )
    if _looks_raw(head):
        return FormatProbe(ImageFormat.RAW, None, size)
    return FormatProbe(ImageFormat.UNKNOWN, None, None, _unknown_detail(head))
