"""Platforms that boot candidate images into machines reachable over SSH.

:data:`PLATFORMS` maps names to :class:`~harness.platforms.base.Platform` subclasses. Every module
(or package) of this package except the support modules is a built-in platform and is imported
here, which registers it; third parties add theirs through the entry-point group
``vmcert.platforms`` (``name = "package.module:PlatformClass"``). :func:`platform_options` fills a
platform's own options dataclass from command-line values over its config-file table.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path

from harness.config import Config
from harness.errors import ConfigError, InputError
from harness.platforms.base import (
    PLATFORMS,
    Bootable,
    BootContext,
    BootError,
    DiskFile,
    Footprint,
    Machine,
    Platform,
    SettleState,
)
from harness.platforms.options import (
    OptionField,
    PlatformOptions,
    Secret,
    build_options,
    coerce,
    option_fields,
)

_SUPPORT_MODULES = frozenset({"base", "machine", "options"})
"""Modules of this package that hold no platform."""


def load_builtin_platforms() -> list[type[Platform]]:
    """Import every built-in platform module of this package (each registers); return them."""
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _SUPPORT_MODULES and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return [
        kind
        for name in PLATFORMS.names()
        if (kind := PLATFORMS.get(name)).__module__.startswith(f"{__name__}.")
    ]


def get_platform(name: str) -> Platform:
    """An instance of the platform registered as ``name`` (one-line error when unknown)."""
    return PLATFORMS.get(name)()


def platform_options(
    platform_name: str, cli_values: Mapping[str, object], config: Config
) -> PlatformOptions:
    """The options of ``platform_name``: its dataclass defaults, then the ``[platform.NAME]``
    table of ``config``, then ``cli_values`` (flags given on the command line, by flag name
    without dashes, e.g. ``{"host": "10.0.0.5", "key": Path(...)}``).

    A flag of another platform is an :class:`InputError` naming the platform it belongs to; an
    unknown key or a wrong type in the file is a :class:`ConfigError` naming the file and key.
    """
    kind = PLATFORMS.get(platform_name).options_type
    fields = {item.flag: item for item in option_fields(kind)}
    values: dict[str, object] = {}
    for key, raw in config.platform_table(platform_name).items():
        item = fields.get(key)
        where = config.where(platform_name, key)
        if item is None:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"unknown {where}; known keys: {known}")
        if item.kind is Path and isinstance(raw, str):
            raw = config.resolve_path(raw)
        try:
            values[item.name] = coerce(item, raw, where, f" (fix it in {config.path})")
        except InputError as exc:
            raise ConfigError(str(exc)) from None
    for flag, raw in cli_values.items():
        item = fields.get(flag)
        if item is None:
            raise InputError(_foreign_flag(flag, platform_name))
        values[item.name] = coerce(item, raw, f"--{flag}", "")
    return build_options(kind, values)


def _foreign_flag(flag: str, chosen: str) -> str:
    owners = [
        kind.name
        for kind in load_builtin_platforms()
        if any(item.flag == flag for item in option_fields(kind.options_type))
    ]
    if not owners:
        return f"--{flag} is not an option of the {chosen} platform"
    names = " and ".join(owners)
    plural = "s" if len(owners) > 1 else ""
    return (
        f"--{flag} belongs to the {names} platform{plural}, not {chosen}; "
        f"use --platform {owners[0]} or drop --{flag}"
    )


# Discovery at import: whoever imports anything of this package sees every built-in platform.
load_builtin_platforms()

__all__ = [
    "PLATFORMS",
    "BootContext",
    "BootError",
    "Bootable",
    "DiskFile",
    "Footprint",
    "Machine",
    "OptionField",
    "Platform",
    "PlatformOptions",
    "Secret",
    "SettleState",
    "get_platform",
    "load_builtin_platforms",
    "platform_options",
]
