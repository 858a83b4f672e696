"""The image's package database, as ``dpkg-query -W`` and ``rpm -q`` would answer from it.

dpkg: ``/var/lib/dpkg/status`` (text stanzas). rpm: in ``/var/lib/rpm`` or
``/usr/lib/sysimage/rpm``, the first of ``rpmdb.sqlite`` (RHEL 9, Fedora, Azure Linux 3), NDB
``Packages.db`` (SLES 15, openSUSE) and Berkeley DB ``Packages`` (RHEL/CentOS 7, RHEL 8, SLES 12,
CBL-Mariner), the order in which rpm itself detects an on-disk database. Each stores rpm header
blobs (index entries, then a data store), parsed here; :mod:`checks.offline.rpmdb` reads the
NDB and Berkeley DB files.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from checks.offline.image import OfflineImage
from checks.offline.rpmdb import Blobs, RpmDbError, bdb_blobs, ndb_blobs

DPKG_STATUS = "/var/lib/dpkg/status"
RPMDB_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
RPMDB_FILES = ("rpmdb.sqlite", "Packages.db", "Packages")
"""rpm's database files by back end (sqlite, ndb, bdb), in rpm's order of detection."""
DB_LIMIT = 256 * 1024 * 1024

_RPMTAG_NAME, _RPMTAG_VERSION, _RPMTAG_RELEASE, _RPMTAG_EPOCH = 1000, 1001, 1002, 1003
_RPM_STRING, _RPM_INT32 = 6, 4


@dataclass(frozen=True)
class Package:
    """One installed (or known) package."""

    name: str
    version: str
    """dpkg: the Version field; rpm: ``%{VERSION}-%{RELEASE}`` (no epoch)."""
    status: str = "install ok installed"
    """dpkg's Status field (rpm lists installed packages only)."""


@dataclass(frozen=True)
class PackageDb:
    """Packages by name, in database order."""

    kind: str
    """``dpkg``, ``rpm`` or ``none`` (no database vmcert reads)."""
    packages: dict[str, list[Package]] = field(default_factory=dict)
    note: str = ""

    def get(self, name: str) -> list[Package]:
        """Every entry named ``name`` (several for multi-arch)."""
        return self.packages.get(name, [])


def _dpkg(text: str) -> dict[str, list[Package]]:
    out: dict[str, list[Package]] = {}
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        name = fields.get("Package")
        if name:
            out.setdefault(name, []).append(
                Package(name, fields.get("Version", ""), fields.get("Status", ""))
            )
    return out


def _rpm_tags(blob: bytes) -> dict[int, str]:
    """NAME, VERSION, RELEASE and EPOCH of one rpm header blob (from its index and store)."""
    if len(blob) < 8:
        return {}
    count, size = struct.unpack_from(">II", blob, 0)
    store = 8 + 16 * count
    if count > 100_000 or store + size > len(blob):
        return {}
    data = blob[store : store + size]
    out: dict[int, str] = {}
    for i in range(count):
        tag, kind, offset, _n = struct.unpack_from(">iIiI", blob, 8 + 16 * i)
        if tag not in (_RPMTAG_NAME, _RPMTAG_VERSION, _RPMTAG_RELEASE, _RPMTAG_EPOCH):
            continue
        if not 0 <= offset < len(data):
            continue
        if kind == _RPM_STRING:
            out[tag] = data[offset:].split(b"\0", 1)[0].decode("utf-8", "replace")
        elif kind == _RPM_INT32 and offset + 4 <= len(data):
            out[tag] = str(struct.unpack_from(">I", data, offset)[0])
    return out


def _rpm_packages(blobs: Iterable[bytes]) -> Iterator[Package]:
    for blob in blobs:
        tags = _rpm_tags(blob)
        name = tags.get(_RPMTAG_NAME)
        if name:
            version = f"{tags.get(_RPMTAG_VERSION, '')}-{tags.get(_RPMTAG_RELEASE, '')}"
            yield Package(name, version)


def _rpm_sqlite(raw: bytes) -> Iterator[Package]:
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(raw)
        rows = db.execute("SELECT blob FROM Packages ORDER BY hnum")
        yield from _rpm_packages(bytes(blob) for (blob,) in rows)
    finally:
        db.close()


def _rpm_file(name: str, raw: bytes) -> Iterator[Package]:
    """The packages of one rpm database file (``name`` is one of :data:`RPMDB_FILES`)."""
    if name == "rpmdb.sqlite":
        return _rpm_sqlite(raw)
    blobs: Blobs = ndb_blobs(raw) if name == "Packages.db" else bdb_blobs(raw)
    return _rpm_packages(blob for _number, blob in blobs)


def read_package_db(image: OfflineImage) -> PackageDb:
    """The image's dpkg or rpm database (``none`` with a note when neither can be read)."""
    if image.is_file(DPKG_STATUS):
        return PackageDb("dpkg", _dpkg(image.read_text(DPKG_STATUS, DB_LIMIT)))
    for directory in RPMDB_DIRS:
        for name in RPMDB_FILES:
            path = f"{directory}/{name}"
            if not image.is_file(path):
                continue
            try:
                packages: dict[str, list[Package]] = {}
                for package in _rpm_file(name, image.read_bytes(path, DB_LIMIT)):
                    packages.setdefault(package.name, []).append(package)
                return PackageDb("rpm", packages)
            except (sqlite3.Error, RpmDbError) as exc:
                return PackageDb("none", note=f"{path}: unreadable rpm database ({exc})")
    return PackageDb("none", note="no package database found")


def installed(db: PackageDb, name: str) -> Package | None:
    """The first installed entry named ``name``."""
    return next((p for p in db.get(name) if " installed" in f" {p.status}"), None)
