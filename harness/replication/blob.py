"""The page blobs replication writes: the client calls it makes, typed, and the remote digest.

:class:`PageBlob` lists the ``azure.storage.blob.BlobClient`` calls replication makes, so the
orchestration and the strategies are typed against exactly what they use (and ``BlobClient`` is
checked against it by mypy, see :func:`blob_client`). Each replica carries its state in blob
metadata: the image's sparse digest, its size and ``incomplete`` → ``verified``/``failed``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.replication.config import Region
from harness.replication.redaction import register_secret
from images.extents import CHUNK, SparseDigest, chunked

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, BlobServiceClient

META_DIGEST = "vmcert_sparse_digest"
META_STATE = "vmcert_state"
META_SIZE = "vmcert_size"
STATE_INCOMPLETE = "incomplete"
STATE_VERIFIED = "verified"
STATE_FAILED = "failed"


# ---------------------------------------------------------------------------------------------
# What replication calls on a blob
# ---------------------------------------------------------------------------------------------


class CopyState(Protocol):
    """A blob's copy properties (``BlobProperties.copy``)."""

    @property
    def status(self) -> str | None: ...
    @property
    def status_description(self) -> str | None: ...


class BlobState(Protocol):
    """A blob's properties (``BlobClient.get_blob_properties()``)."""

    @property
    def size(self) -> int: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def copy(self) -> CopyState: ...


class PageRangeItem(Protocol):
    """One item of ``list_page_ranges()``: inclusive byte bounds."""

    @property
    def start(self) -> int | None: ...
    @property
    def end(self) -> int | None: ...
    @property
    def cleared(self) -> bool: ...


class Downloaded(Protocol):
    """What ``download_blob`` returns."""

    def readall(self) -> bytes: ...


class PageBlob(Protocol):
    """The ``BlobClient`` calls replication makes on one page blob."""

    @property
    def url(self) -> str: ...
    @property
    def blob_name(self) -> str: ...

    def get_blob_properties(self) -> BlobState: ...
    def create_page_blob(self, size: int, *, metadata: dict[str, str] | None = None) -> object: ...
    def set_blob_metadata(self, metadata: dict[str, str] | None = None) -> object: ...
    def upload_page(
        self, page: bytes, offset: int, length: int, *, validate_content: bool = ...
    ) -> object: ...
    def upload_pages_from_url(
        self, source_url: str, offset: int, length: int, source_offset: int
    ) -> object: ...
    def list_page_ranges(self) -> Iterable[PageRangeItem]: ...
    def download_blob(self, offset: int | None = None, length: int | None = None) -> Downloaded: ...
    def start_copy_from_url(
        self, source_url: str, metadata: dict[str, str] | None = None
    ) -> Mapping[str, object]: ...
    def abort_copy(self, copy_id: str) -> None: ...
    def delete_blob(self) -> None: ...


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------


def service_client(region: Region, *, pool: int = 64) -> BlobServiceClient:
    """A ``BlobServiceClient`` for ``region`` with a connection pool of ``pool`` connections.

    The requests default pool of 10 drops connections under more than 10 threads (reference P10).
    """
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from azure.storage.blob import BlobServiceClient
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    transport = RequestsTransport(session=session, session_owner=True)
    version = region.api_version  # None: the SDK's newest
    if region.credential == "connection-string":
        assert region.connection_string
        return BlobServiceClient.from_connection_string(
            region.connection_string, transport=transport, api_version=version
        )
    url = region.account_url or region.endpoint
    if region.credential == "key":
        key = {"account_name": region.account_name, "account_key": region.account_key or ""}
        return BlobServiceClient(url, credential=key, transport=transport, api_version=version)
    if region.credential == "sas":
        if region.sas_token:
            url = url.split("?", 1)[0] + "?" + region.sas_token.lstrip("?")
            register_secret(region.sas_token.lstrip("?"))
        return BlobServiceClient(url, credential=None, transport=transport, api_version=version)
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(
        url, credential=DefaultAzureCredential(), transport=transport, api_version=version
    )


def blob_client(region: Region, blob_name: str, *, pool: int = 64) -> BlobClient:
    """A ``BlobClient`` for ``blob_name`` in the region's container (created if missing)."""
    from azure.core.exceptions import ResourceExistsError

    service = service_client(region, pool=pool)
    container = service.get_container_client(region.container)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    return container.get_blob_client(blob_name)


if TYPE_CHECKING:

    def _conforms(client: BlobClient) -> PageBlob:
        return client  # mypy proves here that the SDK's client has every call PageBlob lists


# ---------------------------------------------------------------------------------------------
# State in metadata
# ---------------------------------------------------------------------------------------------


def state_metadata(digest: str, size: int, state: str) -> dict[str, str]:
    """The metadata that marks a replica: image digest, size and replication state."""
    return {META_DIGEST: digest, META_SIZE: str(size), META_STATE: state}


def blob_state(blob: PageBlob) -> tuple[int, dict[str, str]] | None:
    """The blob's size and metadata, or None when it does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        props = blob.get_blob_properties()
    except ResourceNotFoundError:
        return None
    return int(props.size), dict(props.metadata or {})


# ---------------------------------------------------------------------------------------------
# Page ranges and the remote digest
# ---------------------------------------------------------------------------------------------


def page_ranges(blob: PageBlob) -> list[tuple[int, int]]:
    """The blob's valid page ranges as ``(offset, length)``, following continuation tokens."""
    out = [
        (r.start, r.end - r.start + 1)
        for r in blob.list_page_ranges()
        if not r.cleared and r.start is not None and r.end is not None
    ]
    out.sort()
    return out


def covered(ranges: Sequence[tuple[int, int]], offset: int, length: int) -> bool:
    """Whether ``[offset, offset+length)`` lies inside the (sorted, merged) ``ranges``."""
    import bisect

    starts = [r[0] for r in ranges]
    i = bisect.bisect_right(starts, offset) - 1
    if i < 0:
        return False
    start, n = ranges[i]
    return offset + length <= start + n


class _GeneratedBlobOps(Protocol):
    def download(self, *, range: str) -> Iterable[bytes]: ...


class _GeneratedClient(Protocol):
    @property
    def blob(self) -> _GeneratedBlobOps: ...


@runtime_checkable
class _WithGeneratedClient(Protocol):
    """The SDK's ``BlobClient`` keeps its generated REST client in ``_client``."""

    @property
    def _client(self) -> _GeneratedClient: ...


def read_range(blob: PageBlob, offset: int, length: int) -> bytes:
    """Download one range with a single GET.

    ``download_blob`` on a page blob adds a whole-blob Get Page Ranges per call (reference P9), so
    the generated client's plain ranged GET is used; the public call is the fallback.
    """
    data: bytes | None = None
    if isinstance(blob, _WithGeneratedClient):
        with contextlib.suppress(AttributeError):  # an SDK with another generated client layout
            data = b"".join(
                blob._client.blob.download(range=f"bytes={offset}-{offset + length - 1}")
            )
    if data is None:
        data = blob.download_blob(offset=offset, length=length).readall()
    if len(data) != length:
        raise OSError(f"short read from blob: {len(data)} of {length} bytes at {offset}")
    return bytes(data)


def ordered_map(
    fn: Callable[[tuple[int, int]], bytes], items: Iterable[tuple[int, int]], *, threads: int
) -> Iterator[tuple[tuple[int, int], bytes]]:
    """Like ``executor.map`` but with at most ``2 * threads`` results in memory."""
    window = max(2, 2 * threads)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vmcert-read") as pool:
        pending: list[tuple[tuple[int, int], Future[bytes]]] = []
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= window:
                first, fut = pending.pop(0)
                yield first, fut.result()
        for item, fut in pending:
            yield item, fut.result()


@dataclass
class RemoteDigest:
    """The sparse digest recomputed from a blob's page ranges, and what it cost."""

    digest: str
    size: int
    page_bytes: int
    requests: int


def remote_digest(blob: PageBlob, *, threads: int = 8) -> RemoteDigest:
    """Recompute the :class:`~images.extents.SparseDigest` of a blob from its valid pages only."""
    size = int(blob.get_blob_properties().size)
    ranges = page_ranges(blob)
    pieces = list(chunked(ranges, max_len=CHUNK, align=512, size=size))
    digest = SparseDigest()
    for (offset, _length), data in ordered_map(
        lambda p: read_range(blob, p[0], p[1]), pieces, threads=threads
    ):
        digest.feed(offset, data)
    return RemoteDigest(
        digest=digest.hexdigest(),
        size=size,
        page_bytes=sum(n for _, n in ranges),
        requests=len(pieces) + 2,
    )
