"""Which strategy serves which region: the plan for ``--strategy`` (``auto`` chooses per region).

The first region is the source of the server-side strategies. With ``auto`` each other region
gets an ordered list of strategies to try: ``server`` (skipped on emulators: Azurite buffers a
cross-account page-blob copy whole in memory, reference P3; and when no SAS can be made),
``pages-from-url`` (only if a 512-byte probe works), then ``stream``. Regions left with
``stream`` alone join the first region's fan-out, so they share one read of the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.replication.pages_from_url import probe_pages_from_url
from harness.replication.record import AttemptOutcome, RegionState
from harness.replication.sas import can_sign
from harness.replication.strategy import Slot

STRATEGIES: tuple[str, ...] = ("auto", "server", "pages-from-url", "stream")
"""The ``--strategy`` choices."""


@dataclass
class Plan:
    """Who gets the data how: one fan-out group, then each other region along its fallbacks."""

    stream_group: list[Slot] = field(default_factory=list)
    """Regions filled by one ``stream`` fan-out (the source region first when it needs data)."""
    others: list[Slot] = field(default_factory=list)
    """Regions served from the source region's blob, each trying ``fallbacks`` in order."""
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    """Region name -> strategy names to try in order."""


def plan(strategy: str, primary: Slot, pending: Sequence[Slot]) -> Plan:
    """The plan for ``strategy`` given the source ``primary`` and the regions that need data."""
    others = [s for s in pending if s is not primary]
    result = Plan(stream_group=[primary] if primary in pending else [])
    need_source = strategy in ("server", "pages-from-url") and bool(others)
    if strategy == "stream":
        result.stream_group = list(pending)
        others = []
    elif strategy == "auto":
        for slot in others:
            result.fallbacks[slot.region.name] = auto_candidates(primary, slot)
        stream_only = [s for s in others if result.fallbacks[s.region.name] == ["stream"]]
        result.stream_group += stream_only
        others = [s for s in others if s not in stream_only]
        need_source = bool(others)
    else:
        for slot in others:
            result.fallbacks[slot.region.name] = [strategy]
    # The source region must hold the data before anyone can copy from it.
    if (
        need_source
        and primary not in result.stream_group
        and primary.record.state is not RegionState.SKIPPED
    ):
        result.stream_group.insert(0, primary)
    result.others = others
    return result


def auto_candidates(primary: Slot, slot: Slot) -> list[str]:
    """The ``auto`` strategies to try for one region; skipped ones are noted in its attempts."""
    candidates: list[str] = []
    attempts = slot.record.attempts
    if slot.region.emulator or primary.region.emulator:
        attempts.append(
            {
                "strategy": "server",
                "outcome": AttemptOutcome.SKIPPED,
                "reason": "emulator: Azurite buffers a cross-account page-blob copy whole in "
                "memory (reference P3)",
            }
        )
    elif not can_sign(primary.region):
        attempts.append(
            {
                "strategy": "server",
                "outcome": AttemptOutcome.SKIPPED,
                "reason": "no SAS can be made",
            }
        )
    else:
        candidates.append("server")
    reason = probe_pages_from_url(primary.region, slot.region)
    if reason is None:
        candidates.append("pages-from-url")
    else:
        attempts.append(
            {
                "strategy": "pages-from-url",
                "outcome": AttemptOutcome.SKIPPED,
                "reason": f"probe failed: {reason}",
            }
        )
    candidates.append("stream")
    return candidates
