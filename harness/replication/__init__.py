"""Replicate an approved image to page blobs in several regions, verified by sparse digest.

One module per concept:

========================  ===================================================================
``orchestrate``           :func:`replicate_image`: approval, pre-check, plan, send, verify
``source``                the image replicated: a Candidate, or a file scanned once
``storage``               which storage: a configuration or the embedded Azurite
``record``                the per-region and per-run record (:class:`RegionState` enum), JSON
``approval``              :func:`check_approval` against a ``vmcert certify`` JSON report
``strategy``              the :class:`Strategy` protocol, :class:`Job`, :class:`Slot`
``stream``                ``stream``: one read of the image, Put Page to every region
``server``                ``server``: Copy Blob from the first region, polled to a deadline
``pages_from_url``        ``pages-from-url``: Put Page From URL from the first region
``auto``                  which strategy serves which region (``--strategy auto``)
``blob``                  the typed blob calls (:class:`PageBlob`), clients, remote digest
``fanout``, ``journal``   the resumable Put Page fan-out and its journals
``sas``                   read-only SAS URLs of the source blob
``config``                the storage TOML: regions, accounts, credentials, blob names
``redaction``             secrets out of logs, messages and records
``azurite``               the embedded Azurite (the default storage)
========================  ===================================================================

``vmcert certify --replicate`` is :mod:`harness.cli.certify_replication` (it prints progress, so
it lives with the command line).

Integrity: the image's sparse digest is stored as blob metadata (``vmcert_sparse_digest``) with a
state (``incomplete`` → ``verified``/``failed``). A region counts as replicated only after the blob
size matches and the digest recomputed from its page ranges matches. A region whose blob is already
verified is skipped; a failed one is redone alone; an interrupted upload resumes from its journal.
"""

from __future__ import annotations

from harness.replication.approval import ApprovalError, check_approval
from harness.replication.auto import STRATEGIES
from harness.replication.orchestrate import replicate_image
from harness.replication.record import (
    Attempt,
    AttemptOutcome,
    RegionRecord,
    RegionState,
    ReplicationRecord,
)
from harness.replication.server import CopyOutcome, server_copy
from harness.replication.source import ImageData, ImageFile, scan_image
from harness.replication.storage import open_storage
from harness.replication.strategy import (
    Job,
    ReplicationProgress,
    Slot,
    Strategy,
    StrategyFailed,
)

__all__ = [
    "STRATEGIES",
    "ApprovalError",
    "Attempt",
    "AttemptOutcome",
    "CopyOutcome",
    "ImageData",
    "ImageFile",
    "Job",
    "RegionRecord",
    "RegionState",
    "ReplicationProgress",
    "ReplicationRecord",
    "Slot",
    "Strategy",
    "StrategyFailed",
    "check_approval",
    "open_storage",
    "replicate_image",
    "scan_image",
    "server_copy",
]
