"""Where replicated images go: target regions, their storage accounts, credentials and blob names.

A storage configuration is a TOML file::

    [storage]
    container = "vhds"                                  # default for every region
    blob_name = "{offer}/{plan}/{version}.vhd"          # default blob-name template
    # api_version = "2025-11-05"                        # pin the REST version (emulators)

    [storage.regions.eastus]
    account_url = "https://certeastus.blob.core.windows.net"
    credential = "default"                              # azure-identity DefaultAzureCredential

    [storage.regions.westeurope]
    account_url = "https://certwesteu.blob.core.windows.net"
    account_key_env = "WESTEU_KEY"                      # or account_key = "..." (discouraged)

    [storage.regions.seasia]
    connection_string_env = "SEASIA_CS"                 # or sas_token(_env) with account_url

Secrets (account keys, SAS tokens, connection strings) can be given inline or, better, through
``*_env`` variables. Every secret that is loaded is registered with
:func:`~harness.replication.redaction.register_secret`, so it is scrubbed from log records,
exceptions, console output and record files; the dataclasses never show a secret in their
``repr``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.replication.redaction import register_secret

CredentialKind = Literal["default", "key", "sas", "connection-string"]

DEFAULT_CONTAINER = "vhds"
DEFAULT_BLOB_TEMPLATE = "{offer}/{plan}/{version}.vhd"
CONFIG_ENV = "VMCERT_STORAGE_CONFIG"
"""Environment variable naming a storage configuration file (used when ``--config`` is absent)."""


@dataclass(frozen=True)
class Region:
    """One replication target: a storage account in a region, with its container and naming."""

    name: str
    container: str = DEFAULT_CONTAINER
    blob_template: str = DEFAULT_BLOB_TEMPLATE
    account_url: str | None = None
    credential: CredentialKind = "default"
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    connection_string: str | None = field(default=None, repr=False)
    api_version: str | None = None
    emulator: bool = False
    """True for Azurite: server-side cross-account copies are not attempted (reference P3)."""

    @property
    def endpoint(self) -> str:
        """The blob endpoint URL without any secret (for records and messages)."""
        if self.account_url:
            return self.account_url.split("?", 1)[0].rstrip("/")
        if self.connection_string:
            parts = _parse_connection_string(self.connection_string)
            if "BlobEndpoint" in parts:
                return parts["BlobEndpoint"].rstrip("/")
            account = parts.get("AccountName", "?")
            suffix = parts.get("EndpointSuffix", "core.windows.net")
            protocol = parts.get("DefaultEndpointsProtocol", "https")
            return f"{protocol}://{account}.blob.{suffix}"
        return "?"

    @property
    def account_name(self) -> str:
        """The storage account name (first host label, or first path segment for IP-style URLs)."""
        if self.connection_string:
            name = _parse_connection_string(self.connection_string).get("AccountName")
            if name:
                return name
        parts = urlsplit(self.endpoint)
        host = parts.hostname or ""
        if re.fullmatch(r"[\d.]+|localhost|\[[0-9a-f:]+\]", host):
            return parts.path.strip("/").split("/", 1)[0]
        return host.split(".", 1)[0]

    def blob_name(self, **fields: str) -> str:
        """Fill the blob-name template; unknown placeholders are a configuration error."""
        try:
            return self.blob_template.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"region {self.name}: blob_name template {self.blob_template!r} is invalid "
                f"({exc}); use placeholders among {{{'}, {'.join(sorted(fields))}}}"
            ) from None


@dataclass(frozen=True)
class StorageConfig:
    """All configured regions, by name, and where they were read from."""

    regions: dict[str, Region]
    source: str = "(built-in)"

    def select(self, names: list[str]) -> list[Region]:
        """The regions named, in order; an unknown name is a configuration error."""
        missing = [n for n in names if n not in self.regions]
        if missing:
            known = ", ".join(sorted(self.regions)) or "none"
            raise ConfigError(
                f"{self.source}: region(s) {', '.join(missing)} not configured (configured: "
                f"{known}); add a [storage.regions.NAME] table"
            )
        return [self.regions[n] for n in names]


def _parse_connection_string(cs: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in cs.split(";"):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _secret(table: Mapping[str, object], key: str, where: str) -> str | None:
    """A secret given inline as ``key`` or through the variable named by ``key_env``."""
    value = table.get(key)
    env_name = table.get(f"{key}_env")
    if value is not None and env_name is not None:
        raise ConfigError(f"{where}: give either {key} or {key}_env, not both")
    if env_name is not None:
        if not isinstance(env_name, str):
            raise ConfigError(f"{where}: {key}_env must be a variable name")
        value = os.environ.get(env_name)
        if not value:
            raise ConfigError(f"{where}: environment variable {env_name} ({key}_env) is not set")
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string")
    register_secret(value)
    return value


_REGION_KEYS = {
    "account_url",
    "credential",
    "account_key",
    "account_key_env",
    "sas_token",
    "sas_token_env",
    "connection_string",
    "connection_string_env",
    "container",
    "blob_name",
    "api_version",
    "emulator",
}


def parse_region(
    name: str, table: Mapping[str, object], defaults: Mapping[str, object], where: str
) -> Region:
    """Build one :class:`Region` from its TOML table (``defaults`` come from ``[storage]``)."""
    loc = f"{where}: [storage.regions.{name}]"
    unknown = set(table) - _REGION_KEYS
    if unknown:
        raise ConfigError(f"{loc}: unknown key(s) {', '.join(sorted(unknown))}")
    key = _secret(table, "account_key", loc)
    sas = _secret(table, "sas_token", loc)
    cs = _secret(table, "connection_string", loc)
    url = table.get("account_url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"{loc}: account_url must be a string")
    if url and "?" in url:  # a SAS pasted into the URL
        register_secret(url.split("?", 1)[1])
    if not url and not cs:
        raise ConfigError(f"{loc}: set account_url or connection_string(_env)")
    kind: CredentialKind
    if cs:
        kind = "connection-string"
    elif key:
        kind = "key"
    elif sas or (url and "sig=" in url):
        kind = "sas"
    else:
        kind = "default"
    declared = table.get("credential")
    if declared is not None and declared != kind:
        if declared not in ("default", "key", "sas", "connection-string"):
            raise ConfigError(f"{loc}: credential must be default, key, sas or connection-string")
        raise ConfigError(f"{loc}: credential = {declared!r} but the secrets given mean {kind!r}")
    container = table.get("container", defaults.get("container", DEFAULT_CONTAINER))
    if not isinstance(container, str) or not re.fullmatch(
        r"[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]", container
    ):
        raise ConfigError(
            f"{loc}: container {container!r} must be 3-63 lowercase letters, digits, '-'"
        )
    template = table.get("blob_name", defaults.get("blob_name", DEFAULT_BLOB_TEMPLATE))
    api_version = table.get("api_version", defaults.get("api_version"))
    if api_version is not None and not isinstance(api_version, str):
        raise ConfigError(f'{loc}: api_version must be a string like "2025-11-05"')
    host = urlsplit(url or Region(name="x", connection_string=cs).endpoint).hostname or ""
    emulator = bool(table.get("emulator", host in ("127.0.0.1", "localhost", "::1")))
    return Region(
        name=name,
        container=container,
        blob_template=str(template),
        account_url=url,
        credential=kind,
        account_key=key,
        sas_token=sas,
        connection_string=cs,
        api_version=api_version,
        emulator=emulator,
    )


def load_config(path: Path) -> StorageConfig:
    """Read a storage TOML file; every problem is a :class:`ConfigError` naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: storage configuration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    storage = data.get("storage")
    if not isinstance(storage, dict):
        raise ConfigError(f"{path}: missing [storage] table (see docs/replication.md)")
    regions_table = storage.get("regions", {})
    if not isinstance(regions_table, dict) or not regions_table:
        raise ConfigError(f"{path}: no regions; add [storage.regions.NAME] tables")
    defaults = {k: v for k, v in storage.items() if k != "regions"}
    regions = {
        name: parse_region(name, table, defaults, str(path))
        for name, table in regions_table.items()
        if isinstance(table, dict)
    }
    return StorageConfig(regions=regions, source=str(path))


def configured_path(explicit: Path | None) -> Path | None:
    """The storage config to use: ``--config``, else ``$VMCERT_STORAGE_CONFIG``, else none."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else None
