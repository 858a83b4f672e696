"""Which storage a replication writes to: a configuration, or the embedded Azurite."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from harness.replication.config import StorageConfig, configured_path, load_config


@contextlib.contextmanager
def open_storage(
    config: StorageConfig | Path | None, regions: list[str]
) -> Iterator[StorageConfig]:
    """The storage to use: a config (object or file, or ``$VMCERT_STORAGE_CONFIG``), else Azurite.

    Without a configuration, the instance kept by ``vmcert storage up`` is used (accounts added as
    needed); otherwise a temporary Azurite with a fresh data dir runs for this call only.
    """
    if isinstance(config, StorageConfig):
        yield config
        return
    path = configured_path(config)
    if path is not None:
        yield load_config(path)
        return
    from harness.replication import azurite

    if azurite.running() is not None:
        yield azurite.up(regions).config()
        return
    with azurite.Azurite(regions=list(regions)) as instance:
        yield instance.config()
