"""LVM2 logical volumes through libyal's ``libvslvm`` (``pyvslvm``).

Physical volumes are grouped by volume group; each group is opened once with its PVs in the order
the metadata lists them (matched by PV UUID), and every linear or striped LV becomes a
:class:`~images.fs.model.Source` named ``VG/LV``. Thin pools, snapshots and other segment types
are not read by the library: such an LV reports an error when read.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from images.fs.errors import FilesystemError, reason
from images.fs.model import Source
from images.fs.yal import SourceFile

_LABEL_SECTORS = 4


class _Lv(Protocol):
    name: str
    size: int

    def read_buffer_at_offset(self, size: int, offset: int) -> bytes: ...


class _Pv(Protocol):
    identifier: str


class _Vg(Protocol):
    name: str
    logical_volumes: Iterable[_Lv]
    physical_volumes: Iterable[_Pv]


class _Handle(Protocol):
    def open_file_object(self, file_object: SourceFile) -> None: ...

    def open_physical_volume_files_as_file_objects(self, files: list[SourceFile]) -> None: ...

    def get_volume_group(self) -> _Vg: ...


class _Module(Protocol):
    def handle(self) -> _Handle: ...


@dataclass(frozen=True)
class PhysicalVolume:
    """A partition holding an LVM2 PV label."""

    where: str
    """Name for messages (``image: partition 3``)."""
    source: Source


class LogicalVolume:
    """One LV's bytes, readable as a :class:`~images.fs.model.Source`."""

    def __init__(self, vg: str, lv: _Lv, where: str, keep: list[object]) -> None:
        self.name = f"{vg}/{lv.name}"
        self._lv, self._where = lv, where
        self._keep = keep  # the handle and PV file objects libvslvm reads through
        self.size = int(lv.size)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of the LV (short or empty past its end)."""
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        try:
            return bytes(self._lv.read_buffer_at_offset(min(length, self.size - offset), offset))
        except (OSError, RuntimeError, ValueError) as exc:
            raise FilesystemError(
                f"{self._where}: logical volume {self.name} unreadable: {reason(exc)}"
            ) from None


def pv_uuid(source: Source) -> str:
    """The PV UUID from the ``LABELONE`` label (32 characters, no dashes), or ``""``."""
    for sector in range(_LABEL_SECTORS):
        label = source.read(sector * 512, 512)
        if label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001":
            offset = int.from_bytes(label[20:24], "little")  # pv_header within the sector
            raw = label[offset : offset + 32] if 32 <= offset <= 480 else b""
            return raw.decode("ascii", "replace")
    return ""


class VolumeGroups:
    """Every VG found on the given PVs, with its LVs; problems are kept per PV as notes."""

    def __init__(self, pvs: Sequence[PhysicalVolume]) -> None:
        self.logical_volumes: list[LogicalVolume] = []
        self.notes: list[str] = []
        self._keep: list[object] = []  # libvslvm holds no references to file objects/handles
        module = cast(_Module, importlib.import_module("pyvslvm"))
        groups: dict[str, tuple[_Handle, _Vg, str]] = {}
        by_uuid: dict[str, PhysicalVolume] = {}
        for pv in pvs:
            by_uuid[pv_uuid(pv.source)] = pv
            handle = module.handle()
            file = SourceFile(pv.source)
            self._keep += [file, handle]
            try:
                handle.open_file_object(file)
                vg = handle.get_volume_group()
                name = str(vg.name)
            except (OSError, RuntimeError, ValueError) as exc:
                self.notes.append(f"{pv.where}: LVM metadata unreadable: {reason(exc)}")
                continue
            groups.setdefault(name, (handle, vg, pv.where))
        for name, (handle, vg, where) in groups.items():
            try:
                wanted = [str(p.identifier).replace("-", "") for p in vg.physical_volumes]
                missing = [u for u in wanted if u not in by_uuid]
                if missing:
                    self.notes.append(
                        f"{where}: volume group {name} needs {len(missing)} physical volume(s) "
                        "not in this image; its logical volumes are not read"
                    )
                    continue
                files = [SourceFile(by_uuid[u].source) for u in wanted]
                self._keep += files
                handle.open_physical_volume_files_as_file_objects(files)
                # A VG object taken before the PVs were opened cannot read: take it again.
                lvs = list(handle.get_volume_group().logical_volumes)
            except (OSError, RuntimeError, ValueError) as exc:
                self.notes.append(f"{where}: volume group {name} unreadable: {reason(exc)}")
                continue
            self.logical_volumes += [LogicalVolume(name, lv, where, self._keep) for lv in lvs]
