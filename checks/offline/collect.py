"""Collecting facts from an image's files: the offline counterpart of ``harness.collect``.

Every fact with an offline reader (:attr:`checks.fact.Fact.offline`) prints the text its probe
would print, and the fact's own parser turns it into the same typed value the online probe gives,
so a check judges both sources with the same code. Facts without a reader need a running system;
they come back in :attr:`OfflineCollection.unavailable` with the reason, and so do facts the image
does not let vmcert read (an encrypted or unsupported root, data that cannot be decoded offline).
A reader that fails for any other reason (corrupt structures, a limit exceeded, a malformed file)
gives an error for that fact only; nothing raises out of :func:`collect_offline`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from checks.fact import Fact, Facts
from checks.model import JSON
from checks.offline.image import OfflineError, OfflineImage
from images.errors import ImageError
from images.fs import (
    EncryptedVolumeError,
    Limits,
    NoRootFilesystemError,
    UnreadableImageError,
    UnsupportedFilesystemError,
    open_filesystems,
)

SOURCE = "offline"
"""The :attr:`Facts.sources` value of facts read from the image's files."""

RUNNING_SYSTEM = "needs a running system"

NOT_READABLE = (
    EncryptedVolumeError,
    UnsupportedFilesystemError,
    UnreadableImageError,
    NoRootFilesystemError,
)
"""Errors that say vmcert cannot read the image's files at all (not that they are wrong): the
facts are *not judged*, not errors."""


@dataclass(frozen=True)
class OfflineCollection:
    """What an offline reading produced."""

    facts: Facts
    """Values read (source ``offline``); :attr:`Facts.errors` says why a readable fact failed."""
    unavailable: Mapping[str, str] = field(default_factory=dict)
    """Facts that cannot be judged from this image's files, with why (a running system is
    needed, or the files cannot be read)."""
    seconds: float = 0.0
    timings: Mapping[str, float] = field(default_factory=dict)
    filesystems: Mapping[str, JSON] = field(default_factory=dict)
    """The root volume, mounts and notes of the reading (for reports)."""

    def run_facts(self) -> dict[str, JSON]:
        """How the facts were read, for reports."""
        return {
            "offline_read_seconds": round(self.seconds, 3),
            "offline_timings": {k: round(v, 3) for k, v in self.timings.items()},
            "offline_errors": dict(self.facts.errors),
            "offline_unavailable": dict(self.unavailable),
            "offline_filesystems": dict(self.filesystems),
        }


def reason_unavailable(item: Fact[object]) -> str:
    """Why ``item`` cannot be read offline (its note, else the generic reason)."""
    return f"{RUNNING_SYSTEM}: {item.offline_note}" if item.offline_note else RUNNING_SYSTEM


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def collect_offline(image: OfflineImage, facts: Sequence[Fact[object]]) -> OfflineCollection:
    """Read ``facts`` from ``image`` (supplied facts are left out; see the module docstring)."""
    started = time.monotonic()
    texts: dict[str, str] = {}
    errors: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    timings: dict[str, float] = {}
    wanted = list({f.name: f for f in facts if f.probed}.values())
    for item in wanted:
        if item.offline is None:
            unavailable[item.name] = reason_unavailable(item)
            continue
        began = time.monotonic()
        try:
            texts[item.name] = item.offline(image)
        except NOT_READABLE as exc:
            unavailable[item.name] = f"the image's files cannot be read: {_one_line(exc)}"
        except (ImageError, OfflineError) as exc:
            errors[item.name] = f"fact {item.name}: cannot read it from the image: {_one_line(exc)}"
        except Exception as exc:  # a reader bug must not end the run: the fact is an error
            errors[item.name] = (
                f"fact {item.name}: offline reader failed ({type(exc).__name__}: {_one_line(exc)})"
            )
        timings[item.name] = time.monotonic() - began
    parsed = Facts.from_texts(texts, errors=errors, source=SOURCE, known=wanted)
    files = image.files
    return OfflineCollection(
        facts=parsed,
        unavailable=unavailable,
        seconds=time.monotonic() - started,
        timings=timings,
        filesystems={
            "root": files.root_volume,
            "mounts": [f"{m.path} on {m.volume} ({m.fstype})" for m in files.mounts],
            "notes": list(files.notes),
        },
    )


def unreadable(facts: Sequence[Fact[object]], reason: str) -> OfflineCollection:
    """The collection of an image whose files cannot be read at all: every fact that has an
    offline reader is unavailable for ``reason``, the others need a running system."""
    unavailable = {
        f.name: (reason if f.offline is not None else reason_unavailable(f))
        for f in facts
        if f.probed
    }
    return OfflineCollection(Facts(), unavailable)


def read_image_facts(
    path: Path | str,
    facts: Sequence[Fact[object]],
    *,
    limits: Limits | None = None,
    now: int | None = None,
) -> OfflineCollection:
    """Open the image at ``path``, read ``facts`` from its files and close it.

    An image whose file systems cannot be opened never raises: an unreadable root (encrypted,
    unsupported, no Linux root, data that cannot be decoded offline) makes every offline fact
    *not judged*; corrupt structures make every offline fact an error naming why.
    """
    if not any(f.probed for f in facts):
        return OfflineCollection(Facts())
    started = time.monotonic()
    try:
        files = open_filesystems(path, limits=limits)
    except NOT_READABLE as exc:
        return unreadable(facts, f"the image's files cannot be read: {_one_line(exc)}")
    except ImageError as exc:
        message = f"the image's file systems cannot be read: {_one_line(exc)}"
        errors = {f.name: message for f in facts if f.probed and f.offline is not None}
        unavailable = {
            f.name: reason_unavailable(f) for f in facts if f.probed and f.offline is None
        }
        return OfflineCollection(Facts.from_texts({}, errors=errors), unavailable)
    try:
        collection = collect_offline(OfflineImage(files, now=now), facts)
    finally:
        files.close()
    return OfflineCollection(
        collection.facts,
        collection.unavailable,
        time.monotonic() - started,
        collection.timings,
        collection.filesystems,
    )
