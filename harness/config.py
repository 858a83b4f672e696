"""The vmcert config file (TOML): per-platform defaults under ``[platform.NAME]``.

::

    [platform.ssh]
    host = "10.0.0.5"
    user = "azureuser"
    key = "~/.ssh/id_ed25519"     # relative paths are relative to this file

    [platform.qemu]
    memory = 2048
    gen = 2

Keys are the platform's long flags without dashes (``vmcert certify --help`` lists them); a flag
given on the command line overrides the file. The file is ``--config FILE``, else
``$VMCERT_CONFIG`` when set, else none. This module only reads and shapes the file; the keys of a
table are checked against the platform's options by :func:`harness.platforms.platform_options`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError

CONFIG_ENV = "VMCERT_CONFIG"
"""Environment variable naming the config file used when ``--config`` is not given."""

SECTIONS = ("platform",)
"""Top-level tables a config file may have."""


@dataclass(frozen=True)
class Config:
    """A loaded config file (or the empty config when there is none)."""

    path: Path | None = None
    platforms: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    """``[platform.NAME]`` tables by platform name, as written (checked when used)."""

    def platform_table(self, name: str) -> Mapping[str, object]:
        """The ``[platform.NAME]`` table (empty when the file has none)."""
        return self.platforms.get(name, {})

    def where(self, name: str, key: str) -> str:
        """How an error names a key: ``key 'gen' in [platform.qemu] of /etc/vmcert.toml``."""
        return f"key {key!r} in [platform.{name}] of {self.path}"

    def resolve_path(self, value: str) -> Path:
        """A path written in the file: ``~`` expanded, relative to the file's directory."""
        path = Path(value).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path


def default_config_path() -> Path | None:
    """``$VMCERT_CONFIG`` when set and not empty."""
    value = os.environ.get(CONFIG_ENV, "").strip()
    return Path(value) if value else None


def load_config(path: Path | None) -> Config:
    """Read and shape ``path`` (``None``: the empty config); :class:`ConfigError` names the fix."""
    if path is None:
        return Config()
    try:
        with path.open("rb") as handle:
            document: Mapping[str, object] = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; pass an existing file to --config "
            f"or unset ${CONFIG_ENV}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for key in document:
        if key not in SECTIONS:
            known = ", ".join(f"[{name}]" for name in SECTIONS)
            raise ConfigError(
                f"config file {path}: unknown section {key!r}; known: {known} "
                "(write platform settings as [platform.NAME])"
            )
    section = document.get("platform", {})
    if not isinstance(section, Mapping):
        raise ConfigError(
            f"config file {path}: 'platform' must be a table of [platform.NAME] tables"
        )
    platforms: dict[str, Mapping[str, object]] = {}
    for name, table in section.items():
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"config file {path}: platform.{name} must be a table; write [platform.{name}] "
                "followed by key = value lines"
            )
        platforms[str(name)] = dict(table)
    return Config(path, platforms)
