"""``/etc/fstab`` parsing and matching its device specs to the image's volumes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from images.fs.model import VolumeInfo

_OCTAL = re.compile(r"\\([0-7]{3})")
_PARTITION_DEVICE = re.compile(
    r"/dev/(?:[shvx]+d[a-z]|vd[a-z]|nvme\d+n\d+p|mmcblk\d+p)(?P<n>\d+)|/dev/root"
)


@dataclass(frozen=True)
class FstabEntry:
    """One line of fstab (fields unescaped: ``\\040`` is a space)."""

    spec: str
    path: str
    fstype: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_fstab(text: str, max_entries: int = 1000) -> list[FstabEntry]:
    """The entries of an fstab; comments, blank and short lines are skipped."""
    out: list[FstabEntry] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        fstype = _unescape(fields[2]) if len(fields) > 2 else "auto"
        options = tuple(_unescape(fields[3]).split(",")) if len(fields) > 3 else ("defaults",)
        out.append(FstabEntry(_unescape(fields[0]), _unescape(fields[1]), fstype, options))
        if len(out) >= max_entries:
            break
    return out


def _lvm_name(spec: str) -> str | None:
    """``/dev/mapper/vg-lv`` (dashes doubled inside names) or ``/dev/vg/lv`` to ``vg/lv``."""
    if spec.startswith("/dev/mapper/"):
        raw = spec[len("/dev/mapper/") :]
        parts = re.split(r"(?<!-)-(?!-)", raw)
        if len(parts) == 2 and all(parts):
            return "/".join(p.replace("--", "-") for p in parts)
        return None
    pieces = spec.split("/")
    if len(pieces) == 4 and pieces[:2] == ["", "dev"] and all(pieces[2:]):
        return f"{pieces[2]}/{pieces[3]}"
    return None


def match_spec(spec: str, volumes: Sequence[VolumeInfo], root_id: str = "") -> VolumeInfo | None:
    """The volume an fstab device spec names, or None.

    ``UUID=``, ``LABEL=``, ``PARTUUID=``, ``PARTLABEL=``, their ``/dev/disk/by-*`` forms, LVM
    device-mapper names and ``/dev/sdaN``-style partition nodes (matched by number) are known;
    ``/dev/root`` is the root volume.
    """
    key, _, value = spec.partition("=")
    by_dir = {
        "/dev/disk/by-uuid/": "UUID",
        "/dev/disk/by-label/": "LABEL",
        "/dev/disk/by-partuuid/": "PARTUUID",
        "/dev/disk/by-partlabel/": "PARTLABEL",
    }
    for prefix, kind in by_dir.items():
        if spec.startswith(prefix):
            key, value = kind, spec[len(prefix) :].replace("\\x2f", "/").replace("\\x20", " ")
    value = value.strip('"')
    for volume in volumes:
        if (
            (key == "UUID" and value.lower() == volume.uuid.lower() and volume.uuid)
            or (key == "LABEL" and value == volume.label and volume.label)
            or (key == "PARTUUID" and value.lower() == volume.partuuid.lower() and volume.partuuid)
            or (key == "PARTLABEL" and value == volume.partlabel and volume.partlabel)
        ):
            return volume
    lvm = _lvm_name(spec)
    if lvm is not None:
        return next((v for v in volumes if v.id == f"lvm:{lvm}"), None)
    node = _PARTITION_DEVICE.fullmatch(spec)
    if node is not None:
        if spec == "/dev/root":
            return next((v for v in volumes if v.id == root_id), None)
        return next((v for v in volumes if v.id == f"p{node.group('n')}"), None)
    return None
