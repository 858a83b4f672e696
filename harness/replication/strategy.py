"""The contract between the orchestration and the strategies that bring data to a region.

A :class:`Strategy` gets the :class:`Job` (the image and how to send it) and the region
:class:`Slot` s it should fill, and says per slot whether the data is there (a
:class:`Delivery` without error) — it never verifies: the orchestration checks every replica's
size and recomputed digest afterwards, whatever strategy served it. A strategy takes a list of
slots because ``stream`` fills them all from one read of the image; the others serve each slot
on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.replication.blob import PageBlob, state_metadata
from harness.replication.config import Region
from harness.replication.record import RegionRecord


class StrategyFailed(Exception):
    """A replication strategy could not serve a region; ``auto`` falls back to the next."""


class ReplicationProgress(Protocol):
    """What replication reports while it works (all methods thread-safe)."""

    def start(self, region: str, total: int, strategy: str) -> None: ...
    def advance(self, region: str, n: int) -> None: ...
    def finish(self, region: str, state: str) -> None: ...


class NullProgress:
    """Progress that goes nowhere (library use without a display)."""

    def start(self, region: str, total: int, strategy: str) -> None:
        pass

    def advance(self, region: str, n: int) -> None:
        pass

    def finish(self, region: str, state: str) -> None:
        pass


@dataclass
class Slot:
    """One target region: its configuration, its blob and its record."""

    region: Region
    blob: PageBlob
    record: RegionRecord
    started: float = 0.0
    """When sending to this region started (``time.monotonic()``)."""


@dataclass(frozen=True)
class Job:
    """The image being replicated, cut into Put Page pieces, and how to send it."""

    image: Path
    size: int
    digest: str
    pieces: tuple[tuple[int, int], ...]
    """The image's data as ``(offset, length)`` pieces of at most 4 MiB, 512-aligned."""
    fingerprint: str
    """:func:`~harness.replication.journal.ranges_fingerprint` of :attr:`pieces`."""
    threads: int
    progress: ReplicationProgress
    rate_limit: float | None = None
    """Bytes/s over all regions (``None``: unlimited)."""

    @property
    def data_bytes(self) -> int:
        """Bytes of data to send to each region."""
        return sum(n for _, n in self.pieces)

    def metadata(self, state: str) -> dict[str, str]:
        """The replica metadata for this image in ``state``."""
        return state_metadata(self.digest, self.size, state)


@dataclass
class Delivery:
    """What a strategy did for one slot; no ``error`` means the data is there, to be verified."""

    error: str | None = None
    copy_status: str | None = None
    """The final Copy Blob status (``server`` only)."""


@dataclass
class Sent:
    """What one :meth:`Strategy.send` did: a delivery per slot, in order, and the image reads."""

    deliveries: list[Delivery] = field(default_factory=list)
    source_bytes_read: int = 0


class Strategy(Protocol):
    """A way to bring the image's data to region slots (``server``, ``pages-from-url``, ...)."""

    @property
    def name(self) -> str:
        """The name used by ``--strategy`` and in the record."""
        ...

    def send(self, job: Job, slots: Sequence[Slot]) -> Sent:
        """Bring the data to every slot; a slot it cannot serve gets a delivery with an error.

        Errors that make the whole run pointless (the image cannot be read) are raised.
        """
        ...
