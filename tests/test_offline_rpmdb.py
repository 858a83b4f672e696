"""rpm's Berkeley DB and NDB package databases, read offline (:mod:`checks.offline.rpmdb`).

The fixtures in ``tests/fixtures/rpmdb`` were written by the real tools (``make.sh``): rpm
installed tiny packages into an SQLite database (``expected.txt`` is its ``rpm -qa``); the header
blobs went into Berkeley DB hash files through ``db5.3_load`` (little-endian 4 KiB pages, seven
buckets, values on overflow chains; big-endian 16 KiB pages, values on the hash pages) and into
NDB through rpm's own ``rpmpkg.c``; rpm's ``bdb_ro`` back end read both BDB files back.
"""

from __future__ import annotations

import sqlite3
import struct
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.fact import FACTS, load_builtin_facts
from checks.offline import read_image_facts
from checks.offline.image import OfflineError, OfflineImage
from checks.offline.packages import _rpm_file, _rpm_packages, _rpm_tags, read_package_db
from checks.offline.rpmdb import Blobs, RpmDbError, bdb_blobs, ndb_blobs
from images.fs import open_filesystems
from tests.test_images_fs_support import MIB, mkfs

FIXTURES = Path(__file__).parent / "fixtures" / "rpmdb"
BDB_LE, BDB_BE, NDB = (
    FIXTURES / "bdb-le-4k/Packages",
    FIXTURES / "bdb-be-16k/Packages",
    FIXTURES / "ndb/Packages.db",
)
READERS: dict[str, tuple[Path, Callable[[bytes], Blobs]]] = {
    "bdb-le": (BDB_LE, bdb_blobs),
    "bdb-be": (BDB_BE, bdb_blobs),
    "ndb": (NDB, ndb_blobs),
}


def expected() -> Counter[tuple[str, str]]:
    """``rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE}'`` of the database the fixtures came from."""
    lines = (FIXTURES / "expected.txt").read_text().splitlines()
    return Counter((name, version) for name, _, version in (x.partition(" ") for x in lines))


def names_versions(blobs: Blobs) -> Counter[tuple[str, str]]:
    return Counter((p.name, p.version) for p in _rpm_packages(b for _n, b in blobs))


@pytest.mark.parametrize("kind", sorted(READERS))
def test_fixture_reads_as_rpm_lists_it(kind: str) -> None:
    path, reader = READERS[kind]
    assert path.stat().st_size < 200 * 1024
    blobs = reader(path.read_bytes())
    assert names_versions(blobs) == expected()
    assert sum(expected().values()) == 7 and expected()[("libdemo", "1.0-1")] == 2
    # package 1 was erased before the last install: numbers as rpm gave them, in order
    assert [number for number, _blob in blobs] == [2, 3, 4, 5, 6, 7, 8]


def test_all_formats_hold_the_same_header_blobs() -> None:
    """The blobs are rpm's own header export, byte for byte, whatever the container."""
    le, be, ndb = (reader(path.read_bytes()) for path, reader in READERS.values())
    assert le == be == ndb


def test_big_endian_and_overflow_pages_are_what_the_fixtures_test() -> None:
    le, be = BDB_LE.read_bytes(), BDB_BE.read_bytes()
    assert struct.unpack_from("<I", le, 12)[0] == 0x061561  # little-endian meta page
    assert struct.unpack_from(">I", be, 12)[0] == 0x061561  # big-endian meta page
    assert struct.unpack_from(">I", be, 20)[0] == 16384
    page_types = [le[i + 25] for i in range(0, len(le), 4096)]
    assert page_types.count(7) >= 6  # overflow pages
    agent = dict((_rpm_tags(blob)[1000], blob) for _n, blob in bdb_blobs(le) if _rpm_tags(blob))[
        "WALinuxAgent"
    ]
    assert len(agent) > 5 * 4096  # one value spread over a chain of overflow pages
    assert _rpm_tags(agent)[1001] == "2.7.0.6"
    # big-endian keys: package numbers as an s390x rpm writes them
    assert bytes.fromhex("00000006") in be and [n for n, _ in bdb_blobs(be)][4] == 6


def _pages(data: bytes, size: int, kind: int) -> list[int]:
    return [i for i in range(0, len(data), size) if data[i + 25] == kind]


def _set_u32(data: bytearray, offset: int, value: int, order: str = "<") -> bytearray:
    struct.pack_into(order + "I", data, offset, value)
    return data


def _bdb_mutants() -> dict[str, bytearray]:
    le = BDB_LE.read_bytes()
    overflow = _pages(le, 4096, 7)
    chained = next(p for p in overflow if struct.unpack_from("<I", le, p + 16)[0])
    hashed = _pages(le, 4096, 13)[0]
    return {
        "overflow chain loops": _set_u32(bytearray(le), chained + 16, chained // 4096),
        "overflow page out of range": _set_u32(bytearray(le), chained + 16, 1 << 30),
        "bucket chain loops": _set_u32(bytearray(le), hashed + 16, hashed // 4096),
        "page number wrong": _set_u32(bytearray(le), chained + 8, 3),
        "overflow length too big": bytearray(le[: chained + 22] + b"\xff\xff" + le[chained + 24 :]),
        "truncated": bytearray(le[: len(le) - 4096]),
        "buckets beyond pages": _set_u32(bytearray(le), 72, 1000),
        "page size": _set_u32(bytearray(le), 20, 3000),
        "btree": _set_u32(bytearray(le), 12, 0x053162),
        "version": _set_u32(bytearray(le), 16, 3),
        "short": bytearray(le[:100]),
        "item offsets": bytearray(le[: hashed + 26] + b"\x05\x00" + le[hashed + 28 :]),
        "odd item count": bytearray(le[: hashed + 20] + b"\x03\x00" + le[hashed + 22 :]),
        "encrypted": bytearray(le[:24] + b"\x01" + le[25:]),
    }


@pytest.mark.parametrize("case", sorted(_bdb_mutants()))
def test_malformed_bdb_gives_the_projects_error(case: str) -> None:
    with pytest.raises(RpmDbError) as caught:
        bdb_blobs(bytes(_bdb_mutants()[case]))
    assert isinstance(caught.value, OfflineError) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("Berkeley DB: ")


def _ndb_mutants() -> dict[str, bytearray]:
    ndb = NDB.read_bytes()
    slots = [
        o
        for o in range(32, 4096, 16)
        if ndb[o : o + 4] == b"Slot" and struct.unpack_from("<I", ndb, o + 8)[0]
    ]
    first, second = slots[0], slots[1]
    block = struct.unpack_from("<I", ndb, first + 8)[0]
    blob = block * 16
    return {
        "checksum": bytearray(ndb[: blob + 100] + bytes([ndb[blob + 100] ^ 1]) + ndb[blob + 101 :]),
        "overlap": _set_u32(bytearray(ndb), second + 8, block),
        "beyond the end": _set_u32(bytearray(ndb), first + 12, 1 << 28),
        "inside the slot pages": _set_u32(bytearray(ndb), first + 8, 3),
        "blob length": _set_u32(bytearray(ndb), blob + 12, 7),
        "wrong package": _set_u32(bytearray(ndb), blob + 4, 999),
        "slot magic": bytearray(ndb[:first] + b"Xlot" + ndb[first + 4 :]),
        "slot pages": _set_u32(bytearray(ndb), 12, 1000),
        "version": _set_u32(bytearray(ndb), 4, 1),
        "magic": bytearray(b"XpmP" + ndb[4:]),
        "duplicate package": _set_u32(
            bytearray(ndb), second + 4, struct.unpack_from("<I", ndb, first + 4)[0]
        ),
        "truncated": bytearray(ndb[:-16]),
    }


@pytest.mark.parametrize("case", sorted(_ndb_mutants()))
def test_malformed_ndb_gives_the_projects_error(case: str) -> None:
    with pytest.raises(RpmDbError) as caught:
        ndb_blobs(bytes(_ndb_mutants()[case]))
    assert "\n" not in str(caught.value) and str(caught.value).startswith("NDB: ")


def _hot_offsets(data: bytes, kind: str) -> list[int]:
    """Where mutations matter most: page and slot headers, item indexes, blob frames."""
    if kind == "ndb":
        return list(range(0, 4096)) + [i for i in range(4096, len(data)) if i % 16 < 4]
    size = 4096 if kind == "bdb-le" else 16384
    return [p + i for p in range(0, len(data), size) for i in range(0, 256)]


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(sorted(READERS)),
    picks=st.lists(
        st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1, max_size=24
    ),
    hot=st.booleans(),
    cut=st.one_of(st.none(), st.integers(0, 1 << 20)),
)
def test_mutated_databases_give_only_the_projects_error(
    kind: str, picks: list[tuple[int, int]], hot: bool, cut: int | None
) -> None:
    path, reader = READERS[kind]
    data = bytearray(path.read_bytes())
    offsets = _hot_offsets(bytes(data), kind) if hot else list(range(len(data)))
    for index, value in picks:
        data[offsets[index % len(offsets)]] = value
    if cut is not None:
        del data[cut % len(data) :]
    started = time.monotonic()
    try:
        blobs = reader(bytes(data))
    except RpmDbError as exc:
        assert "\n" not in str(exc)
    else:
        assert sum(len(blob) for _n, blob in blobs) <= len(data)  # every byte used once
        list(_rpm_packages(blob for _n, blob in blobs))  # the header parser copes too
    assert time.monotonic() - started < 5


# -- chosen by the file present, in an image --------------------------------------------------

RHEL_OS = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="8.10"\n'


def _tree(root: Path, dbs: dict[str, bytes], *, links: dict[str, str] | None = None) -> Path:
    for name, text in {
        "etc/os-release": RHEL_OS,
        "etc/fstab": "/dev/sda1 / xfs defaults 0 0\n",
        "etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    rpm = root / "usr/bin/rpm"
    rpm.parent.mkdir(parents=True, exist_ok=True)
    rpm.write_bytes(b"\x7fELF")
    rpm.chmod(0o755)
    for name, data in dbs.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    for name, target in (links or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(target)
    return root


def _sqlite_with(blobs: Blobs) -> bytes:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
    db.executemany("INSERT INTO Packages VALUES (?, ?)", blobs)
    db.commit()
    return db.serialize()


def _package_db(
    tmp: Path, dbs: dict[str, bytes], **kw: dict[str, str]
) -> tuple[str, set[str], str]:
    image = mkfs("ext4", _tree(tmp / "root", dbs, **kw), tmp / "root.img", 16 * MIB)
    with open_filesystems(image) as files:
        db = read_package_db(OfflineImage(files))
    return db.kind, {f"{p.name} {p.version}" for ps in db.packages.values() for p in ps}, db.note


ALL = {" ".join(key) for key in expected()}


def test_rhel7_berkeley_db_is_read(tmp_path: Path) -> None:
    kind, packages, note = _package_db(tmp_path, {"var/lib/rpm/Packages": BDB_LE.read_bytes()})
    assert (kind, packages, note) == ("rpm", ALL, "")


def test_suse_ndb_is_read_through_the_var_lib_rpm_link(tmp_path: Path) -> None:
    kind, packages, note = _package_db(
        tmp_path,
        {"usr/lib/sysimage/rpm/Packages.db": NDB.read_bytes()},
        links={"var/lib/rpm": "../../usr/lib/sysimage/rpm"},
    )
    assert (kind, packages, note) == ("rpm", ALL, "")


def test_rpm_detection_order_sqlite_then_ndb_then_bdb(tmp_path: Path) -> None:
    """rpm picks the first of sqlite, ndb, bdb on disk; so does the reader (a broken
    Berkeley DB next to an NDB file is not looked at)."""
    glibc_only = [
        (n, b) for n, b in bdb_blobs(BDB_BE.read_bytes()) if _rpm_tags(b)[1000] == "glibc"
    ]
    dbs = {
        "var/lib/rpm/rpmdb.sqlite": _sqlite_with(glibc_only),
        "var/lib/rpm/Packages.db": NDB.read_bytes(),
        "var/lib/rpm/Packages": b"\0" * 8192,
    }
    assert _package_db(tmp_path / "a", dbs)[:2] == ("rpm", {"glibc 2.17-326.el7_9"})
    del dbs["var/lib/rpm/rpmdb.sqlite"]
    assert _package_db(tmp_path / "b", dbs) == ("rpm", ALL, "")


def test_broken_berkeley_db_gives_a_note_naming_the_file(tmp_path: Path) -> None:
    broken = bytes(_bdb_mutants()["overflow chain loops"])
    kind, packages, note = _package_db(tmp_path, {"var/lib/rpm/Packages": broken})
    assert (kind, packages) == ("none", set())
    assert note.startswith("/var/lib/rpm/Packages: unreadable rpm database (Berkeley DB: page ")
    assert "twice" in note


def test_glibc_fact_gets_the_package_version_from_berkeley_db(tmp_path: Path) -> None:
    load_builtin_facts()
    glibc = [f for f in FACTS if f.name == "glibc"]
    root = _tree(tmp_path / "root", {"var/lib/rpm/Packages": BDB_BE.read_bytes()})
    image = mkfs("ext4", root, tmp_path / "root.img", 16 * MIB)
    collection = read_image_facts(image, glibc, now=2_000_000_000)
    assert not collection.facts.errors
    assert collection.facts.raw["glibc"] == "package=2.17-326.el7_9\n"


def test_rpm_file_dispatch_by_name() -> None:
    assert names_versions([(0, b"")]) == Counter()
    got = Counter((p.name, p.version) for p in _rpm_file("Packages.db", NDB.read_bytes()))
    assert got == expected()
    with pytest.raises(RpmDbError):
        list(_rpm_file("Packages", NDB.read_bytes()))
