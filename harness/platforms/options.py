"""Typed platform options: one frozen dataclass per platform, described by field metadata.

A platform declares its options as a subclass of :class:`PlatformOptions` whose fields are made
with :func:`option` (help text, flag name, choices, bounds). From that one description vmcert
derives the command-line flags (``harness.cli.platform_flags``), the keys of the
``[platform.NAME]`` table of a config file (the flag name without dashes) and the validation of
both, so adding a platform never widens a shared options type::

    @dataclass(frozen=True)
    class SshOptions(PlatformOptions):
        host: str | None = option(None, help="Host name or address.")
        port: int = option(22, help="SSH port.", minimum=1)

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Path``, :class:`Secret`, each
optionally ``| None``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, Union

from harness.errors import InputError

T = TypeVar("T")
_META = "vmcert.option"


@dataclass(frozen=True)
class PlatformOptions:
    """Base of every platform's options dataclass (frozen; fields made with :func:`option`)."""


OptionsT = TypeVar("OptionsT", bound=PlatformOptions)


class Secret:
    """A credential that is read only when a connection needs it and never printed.

    Made from an environment variable (``Secret(env="VMCERT_SSH_PASSWORD")``), with an optional
    interactive ``prompt`` when the variable is unset, or from a value a library caller already
    holds (:meth:`of`). The value is read once and then remembered.
    """

    def __init__(
        self, env: str | None = None, prompt: Callable[[], str] | None = None, *, value: str = ""
    ) -> None:
        self.env = env
        self._prompt = prompt
        self._value = value

    @classmethod
    def of(cls, value: str) -> Secret:
        """A secret whose value is already known (tests, library callers)."""
        return cls(value=value)

    def reveal(self) -> str:
        """The secret's value: given, else from the environment, else from the prompt."""
        if not self._value and self.env:
            self._value = os.environ.get(self.env, "")
        if not self._value and self._prompt is not None:
            self._value = self._prompt()
        if not self._value:
            where = f"${self.env}" if self.env else "a value"
            raise InputError(f"no password given: set {where} (it is never read from flags)")
        return self._value

    def __repr__(self) -> str:
        source = f"env={self.env!r}" if self.env else "given"
        return f"Secret({source}, value hidden)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.env, self._value) == (other.env, other._value)

    def __hash__(self) -> int:
        return hash((Secret, self.env))


@dataclass(frozen=True)
class OptionSpec:
    """What :func:`option` records about a field (in the field's metadata)."""

    help: str
    flag: str | None = None
    """Long flag without dashes (also the config key); default: the field name, ``_`` as ``-``."""
    choices: tuple[str | int, ...] = ()
    minimum: float | None = None
    """Smallest allowed value of a number."""
    env: str | None = None
    """For a :class:`Secret`: the environment variable that holds it."""


def option(
    default: T,
    *,
    help: str,
    flag: str | None = None,
    choices: Sequence[str | int] = (),
    minimum: float | None = None,
    env: str | None = None,
) -> T:
    """A platform option field: its default and how it appears on the command line and in config.

    ``help`` is the flag's help text; ``flag`` the long flag (and config key) when it differs
    from the field name; ``choices`` the allowed values; ``minimum`` a lower bound for numbers;
    ``env`` the environment variable of a :class:`Secret` (its flag is a switch: "read it").
    """
    spec = OptionSpec(help, flag, tuple(choices), minimum, env)
    result: T = field(default=default, metadata={_META: spec})
    return result


@dataclass(frozen=True)
class OptionField:
    """One option of a platform, resolved from its dataclass field."""

    name: str
    """The dataclass field name."""
    kind: type
    """``str``, ``int``, ``float``, ``bool``, ``Path`` or :class:`Secret`."""
    optional: bool
    default: object
    spec: OptionSpec

    @property
    def flag(self) -> str:
        """The long flag without dashes, which is also the config key (``gen``, ``key``)."""
        return self.spec.flag or self.name.replace("_", "-")

    @property
    def type_name(self) -> str:
        names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
        names |= {Path: "a file path", Secret: "true or false"}
        return names.get(self.kind, self.kind.__name__)


def option_fields(options_type: type[PlatformOptions]) -> tuple[OptionField, ...]:
    """The options of ``options_type`` in declaration order (each field made by :func:`option`)."""
    known = _FIELDS.get(options_type)
    if known is not None:
        return known
    hints = typing.get_type_hints(options_type)
    found: list[OptionField] = []
    for item in dataclasses.fields(options_type):
        spec = item.metadata.get(_META)
        if not isinstance(spec, OptionSpec):
            raise TypeError(f"{options_type.__name__}.{item.name} is not declared with option()")
        kind, optional = _unwrap(hints[item.name], f"{options_type.__name__}.{item.name}")
        found.append(OptionField(item.name, kind, optional, item.default, spec))
    _FIELDS[options_type] = tuple(found)
    return _FIELDS[options_type]


_FIELDS: dict[type[PlatformOptions], tuple[OptionField, ...]] = {}


def _unwrap(hint: object, where: str) -> tuple[type, bool]:
    args: tuple[object, ...] = ()
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = typing.get_args(hint)
    members = [arg for arg in args if arg is not type(None)] if args else [hint]
    if len(members) != 1 or members[0] not in (str, int, float, bool, Path, Secret):
        raise TypeError(f"{where}: unsupported option type {hint!r}")
    kind = members[0]
    assert isinstance(kind, type)
    return kind, bool(args) and len(members) < len(args)


def coerce(item: OptionField, value: object, where: str, fix: str) -> object:
    """``value`` checked (and converted where lossless) for ``item``; ``where`` names the source
    (``--gen`` or ``key 'gen' in [platform.qemu] of vmcert.toml``) and ``fix`` how to repair it."""
    kind = item.kind
    if value is None and item.optional:
        return None
    converted: object = value
    if kind is Secret:
        if isinstance(value, Secret):
            return value
        if value is True:
            return Secret(env=item.spec.env)
        if value is False:
            return None
        raise InputError(
            f"{where}: must be true or false (the password itself is read from "
            f"${item.spec.env}, never from a file or a flag){fix}"
        )
    if kind is Path and isinstance(value, str):
        converted = Path(value).expanduser()
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        converted = float(value)
    if not isinstance(converted, kind) or (kind is int and isinstance(converted, bool)):
        raise InputError(f"{where}: must be {item.type_name}, not {value!r}{fix}")
    if item.spec.choices and converted not in item.spec.choices:
        allowed = ", ".join(str(choice) for choice in item.spec.choices)
        raise InputError(f"{where}: must be one of {allowed}, not {value!r}{fix}")
    minimum = item.spec.minimum
    if minimum is not None and isinstance(converted, int | float) and converted < minimum:
        raise InputError(f"{where}: must be at least {minimum:g}, not {value!r}{fix}")
    return converted


def build_options(options_type: type[OptionsT], values: Mapping[str, object]) -> OptionsT:
    """``options_type`` with the already checked ``values`` (by field name) over its defaults."""
    return dataclasses.replace(options_type(), **values)


def expect_options(
    options: PlatformOptions, options_type: type[OptionsT], platform: str
) -> OptionsT:
    """``options`` narrowed to the platform's own type (a one-line error for a wrong type)."""
    if not isinstance(options, options_type):
        raise InputError(
            f"the {platform} platform takes {options_type.__name__}, not {type(options).__name__}"
        )
    return options


def describe(value: object) -> str:
    """A value as shown in help texts (``1024``, ``auto``), secrets never."""
    if isinstance(value, Secret):
        return "hidden"
    return str(value)


__all__ = [
    "OptionField",
    "OptionSpec",
    "OptionsT",
    "PlatformOptions",
    "Secret",
    "build_options",
    "coerce",
    "describe",
    "expect_options",
    "option",
    "option_fields",
]
