"""Read-only readers of rpm's older package databases: Berkeley DB ``Packages`` and NDB
``Packages.db``. Each gives the header blobs rpm stored, which :mod:`checks.offline.packages`
parses exactly as it parses the rows of ``rpmdb.sqlite``.

* **Berkeley DB** (RHEL/CentOS 7, RHEL/Alma/Rocky 8, SLES 12, CBL-Mariner 1): a hash access-method
  file. Page 0 is the meta page (magic ``0x061561``, in either byte order: the writer's); buckets
  map to pages through the meta page's ``spares`` table; a bucket is a chain of hash pages
  (``next_pgno``) holding alternating key/value items, ``H_KEYDATA`` inline or ``H_OFFPAGE``
  (page number and length of a chain of overflow pages). Keys are 4-byte package numbers;
  rpm keeps a counter under key 0.
* **NDB** (SLES 15, openSUSE; rpm's own format, little-endian): a 32-byte header (``RpmP``),
  ``slotnpages`` 4 KiB pages of 16-byte slots (``Slot``, package index, block offset, block
  count; blocks are 16 bytes), and blobs framed by ``BlbS`` (index, generation, length) and a
  trailer (Adler-32 of head, blob and padding; length; ``BlbE``).

Sources: Berkeley DB's hash page layout (``dbinc/db_page.h``) as rpm's read-only back end
``lib/backend/bdb_ro`` reads it, and rpm's NDB implementation ``lib/backend/ndb/rpmpkg.c``.

Bounds: every offset and length is checked against the page or the file before it is used;
every page is visited at most once (a bucket or overflow chain that loops, or two items sharing
a page, is an error), so the work and the bytes returned are linear in the file's size, which
the caller bounds; malformed input raises :class:`RpmDbError`, never another exception.
"""

from __future__ import annotations

import struct
import zlib

from checks.offline.image import OfflineError

Blobs = list[tuple[int, bytes]]
"""``(package number, header blob)``, by package number."""

# -- Berkeley DB hash ---------------------------------------------------------------------------

_HASH_MAGIC = 0x061561
_BTREE_MAGIC = 0x053162
_P_OVERFLOW, _P_HASHMETA, _P_HASH_UNSORTED, _P_HASH = 7, 8, 2, 13
_H_KEYDATA, _H_DUPLICATE, _H_OFFPAGE, _H_OFFDUP = 1, 2, 3, 4
_PAGE_HEADER = 26
"""lsn (8), pgno, prev_pgno, next_pgno (4 each), entries, hf_offset (2 each), level, type (1)."""

# -- NDB ----------------------------------------------------------------------------------------

_NDB_MAGIC, _NDB_SLOT, _NDB_HEAD, _NDB_TAIL = b"RpmP", b"Slot", b"BlbS", b"BlbE"
_NDB_PAGE, _NDB_BLOCK, _NDB_SLOT_SIZE, _NDB_HEADER = 4096, 16, 16, 32


class RpmDbError(OfflineError):
    """An rpm database file is malformed or in a variant vmcert does not read (one line)."""


class _BdbFile:
    """One Berkeley DB hash file in memory: its meta page, and pages checked as they are read."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 512:
            raise RpmDbError("Berkeley DB: file shorter than its meta page")
        self.data = data
        for order in ("<", ">"):
            magic = struct.unpack_from(order + "I", data, 12)[0]
            if magic == _HASH_MAGIC:
                break
            if magic == _BTREE_MAGIC:
                raise RpmDbError("Berkeley DB: a btree database, not rpm's hash Packages file")
        else:
            raise RpmDbError("Berkeley DB: no hash database magic on the meta page")
        self.order = order
        version, pagesize = self.u32(16), self.u32(20)
        encrypted, kind = data[24], data[25]
        if not 8 <= version <= 10:
            raise RpmDbError(f"Berkeley DB: unsupported hash version {version}")
        if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
            raise RpmDbError(f"Berkeley DB: invalid page size {pagesize}")
        if encrypted:
            raise RpmDbError("Berkeley DB: the database is encrypted")
        if kind != _P_HASHMETA:
            raise RpmDbError(f"Berkeley DB: meta page has type {kind}, not hash meta")
        self.pagesize = pagesize
        self.last_pgno = self.u32(32)
        if (self.last_pgno + 1) * pagesize > len(data):
            raise RpmDbError(f"Berkeley DB: file truncated (last page {self.last_pgno} missing)")
        self.max_bucket = self.u32(72)
        self.spares = struct.unpack_from(order + "32I", data, 96)
        if self.max_bucket > self.last_pgno:
            raise RpmDbError(
                f"Berkeley DB: {self.max_bucket + 1} buckets in {self.last_pgno} pages"
            )
        self.seen: set[int] = set()

    def u32(self, offset: int, base: int = 0) -> int:
        value: int = struct.unpack_from(self.order + "I", self.data, base + offset)[0]
        return value

    def u16(self, offset: int, base: int = 0) -> int:
        value: int = struct.unpack_from(self.order + "H", self.data, base + offset)[0]
        return value

    def page(self, pgno: int) -> int | None:
        """The offset of page ``pgno``, visited once; None for a page never written (a split
        allocates its range of bucket pages at once, as a hole, and writes each when used)."""
        if not 0 < pgno <= self.last_pgno:
            raise RpmDbError(f"Berkeley DB: page number {pgno} out of range")
        if pgno in self.seen:
            raise RpmDbError(f"Berkeley DB: page {pgno} is reached twice (a loop)")
        self.seen.add(pgno)
        base = pgno * self.pagesize
        stored = self.u32(8, base)
        if stored == 0 and self.data[base + 25] == 0:
            return None
        if stored != pgno:
            raise RpmDbError(f"Berkeley DB: page {pgno} says it is page {stored}")
        return base

    def bucket_page(self, bucket: int) -> int:
        """The first page of ``bucket``: its split point's ``spares`` entry, plus the bucket."""
        split = bucket.bit_length()
        if split >= len(self.spares):
            raise RpmDbError(f"Berkeley DB: bucket {bucket} beyond the split points")
        pgno: int = bucket + self.spares[split]
        return pgno

    def item(self, base: int, offset: int, length: int) -> bytes:
        """A key or value item at ``offset`` of the page at ``base``, ``length`` bytes long."""
        kind = self.data[base + offset]
        if kind == _H_KEYDATA:
            return self.data[base + offset + 1 : base + offset + length]
        if kind == _H_OFFPAGE:
            if length != 12:
                raise RpmDbError(f"Berkeley DB: off-page item of {length} bytes, not 12")
            return self.overflow(self.u32(offset + 4, base), self.u32(offset + 8, base))
        if kind in (_H_DUPLICATE, _H_OFFDUP):
            raise RpmDbError("Berkeley DB: duplicate keys (not an rpm Packages file)")
        raise RpmDbError(f"Berkeley DB: unknown hash item type {kind}")

    def overflow(self, pgno: int, length: int) -> bytes:
        """The ``length`` bytes of a chain of overflow pages starting at ``pgno``."""
        if length > len(self.data):
            raise RpmDbError(f"Berkeley DB: off-page item of {length} bytes in a smaller file")
        parts: list[bytes] = []
        left = length
        while left > 0:
            if pgno == 0:
                raise RpmDbError("Berkeley DB: overflow chain ends early")
            base = self.page(pgno)
            if base is None or self.data[base + 25] != _P_OVERFLOW:
                raise RpmDbError(f"Berkeley DB: page {pgno} is not an overflow page")
            size = self.u16(22, base)
            if size == 0 or size > left or _PAGE_HEADER + size > self.pagesize:
                raise RpmDbError(f"Berkeley DB: overflow page {pgno} holds {size} bytes")
            parts.append(self.data[base + _PAGE_HEADER : base + _PAGE_HEADER + size])
            left -= size
            pgno = self.u32(16, base)
        return b"".join(parts)

    def pairs(self, base: int) -> list[tuple[bytes, bytes]]:
        """The key/value items of one hash page."""
        entries = self.u16(20, base)
        start = _PAGE_HEADER + 2 * entries
        if entries % 2 or start > self.pagesize:
            raise RpmDbError(f"Berkeley DB: hash page with {entries} items")
        offsets = [self.u16(_PAGE_HEADER + 2 * i, base) for i in range(entries)]
        out: list[tuple[bytes, bytes]] = []
        end = self.pagesize  # items are stored downwards from the page's end
        items: list[bytes] = []
        for offset in offsets:
            if not start <= offset < end:
                raise RpmDbError(f"Berkeley DB: hash item at {offset} outside its page")
            items.append(self.item(base, offset, end - offset))
            end = offset
        for i in range(0, entries, 2):
            out.append((items[i], items[i + 1]))
        return out


def bdb_blobs(data: bytes) -> Blobs:
    """The header blobs of a Berkeley DB hash ``Packages`` file (either byte order)."""
    db = _BdbFile(data)
    found: dict[int, bytes] = {}
    for bucket in range(db.max_bucket + 1):
        pgno = db.bucket_page(bucket)
        while pgno:
            base = db.page(pgno)
            if base is None:
                break
            kind = data[base + 25]
            if kind not in (_P_HASH, _P_HASH_UNSORTED):
                raise RpmDbError(f"Berkeley DB: bucket page {pgno} has type {kind}")
            for key, value in db.pairs(base):
                if len(key) != 4:
                    raise RpmDbError(f"Berkeley DB: a {len(key)}-byte key, not a package number")
                number = int.from_bytes(key, "little" if db.order == "<" else "big")
                if number:  # key 0: rpm's counter of package numbers, not a header
                    found[number] = value
            pgno = db.u32(16, base)
    return sorted(found.items())


def ndb_blobs(data: bytes) -> Blobs:
    """The header blobs of an rpm NDB ``Packages.db`` file."""
    if len(data) < _NDB_PAGE or data[:4] != _NDB_MAGIC:
        raise RpmDbError("NDB: no RpmP header")
    version, _generation, slot_pages = struct.unpack_from("<III", data, 4)
    if version != 0:
        raise RpmDbError(f"NDB: unsupported version {version}")
    if not 0 < slot_pages <= len(data) // _NDB_PAGE:
        raise RpmDbError(f"NDB: {slot_pages} slot pages in a {len(data)}-byte file")
    first_block = slot_pages * _NDB_PAGE // _NDB_BLOCK
    slots: list[tuple[int, int, int]] = []
    for offset in range(_NDB_HEADER, slot_pages * _NDB_PAGE, _NDB_SLOT_SIZE):
        magic = data[offset : offset + 4]
        index, block, blocks = struct.unpack_from("<III", data, offset + 4)
        if magic != _NDB_SLOT:
            raise RpmDbError(f"NDB: bad slot at offset {offset}")
        if block == 0:
            continue  # a free slot
        if index == 0 or blocks < 2 or block < first_block:
            raise RpmDbError(f"NDB: bad slot for package {index} at offset {offset}")
        if (block + blocks) * _NDB_BLOCK > len(data):
            raise RpmDbError(f"NDB: package {index} lies beyond the file's end")
        slots.append((block, blocks, index))
    slots.sort()
    found: dict[int, bytes] = {}
    end = first_block
    for block, blocks, index in slots:
        if block < end:
            raise RpmDbError(f"NDB: package {index} overlaps another")
        end = block + blocks
        if index in found:
            raise RpmDbError(f"NDB: package {index} stored twice")
        found[index] = _ndb_blob(data, index, block * _NDB_BLOCK, blocks * _NDB_BLOCK)
    return sorted(found.items())


def _ndb_blob(data: bytes, index: int, start: int, size: int) -> bytes:
    head, stored, _generation, length = struct.unpack_from("<4sIII", data, start)
    if head != _NDB_HEAD or stored != index:
        raise RpmDbError(f"NDB: package {index} has no blob head")
    if size != -(-(16 + length + 12) // _NDB_BLOCK) * _NDB_BLOCK:
        raise RpmDbError(f"NDB: package {index}: blob of {length} bytes in {size}")
    tail = start + size - 12
    adler, tail_length, magic = struct.unpack_from("<II4s", data, tail)
    if magic != _NDB_TAIL or tail_length != length:
        raise RpmDbError(f"NDB: package {index} has no blob trailer")
    if zlib.adler32(data[start:tail]) != adler:
        raise RpmDbError(f"NDB: package {index}: checksum mismatch")
    return data[start + 16 : start + 16 + length]
