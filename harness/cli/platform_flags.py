"""Command-line flags for every built-in platform's options, and ``--config``.

:func:`platform_cli_options` turns each built-in platform's options dataclass into click options
(one per flag; a flag two platforms share, such as ``--timeout``, is one option) and hands the
command two keyword arguments instead of one per flag:

* ``config``: the loaded :class:`~harness.config.Config` (``--config FILE``, else
  ``$VMCERT_CONFIG``);
* ``platform_flags``: the platform flags the user actually gave, by flag name without dashes.

The command then calls :func:`harness.platforms.platform_options` with its ``--platform`` name; a
flag of another platform is a one-line usage error there::

    @click.command("certify")
    @click.option("--platform", default="qemu")
    @platform_cli_options()
    def certify_command(platform: str, config: Config, platform_flags: PlatformFlags) -> int:
        options = platform_options(platform, platform_flags, config)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar, cast

import click
from click.core import ParameterSource

from harness.config import default_config_path, load_config
from harness.platforms import load_builtin_platforms
from harness.platforms.options import OptionField, Secret, describe, option_fields

F = TypeVar("F", bound=Callable[..., object])

PlatformFlags = Mapping[str, object]
"""Platform flags given on the command line: flag name without dashes → value of its type."""

_PREFIX = "platform_flag_"
_CONFIG = f"{_PREFIX}_config"
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _flags() -> dict[str, list[tuple[str, OptionField]]]:
    """Every built-in platform's flags: flag → [(platform name, option)], in declaration order."""
    flags: dict[str, list[tuple[str, OptionField]]] = {}
    for kind in load_builtin_platforms():
        for item in option_fields(kind.options_type):
            owners = flags.setdefault(item.flag, [])
            if owners and (owners[0][1].kind, owners[0][1].optional) != (item.kind, item.optional):
                raise TypeError(
                    f"--{item.flag} is declared by {owners[0][0]} and {kind.name} "
                    "with different types"
                )
            owners.append((kind.name, item))
    return flags


def _click_option(flag: str, owners: list[tuple[str, OptionField]]) -> Callable[[F], F]:
    item = owners[0][1]
    texts = []
    for platform, owned in owners:
        default = "" if owned.default is None else f" [default: {describe(owned.default)}]"
        texts.append(f"[{platform}] {owned.spec.help}{default}")
    # no click default: an option the user did not give must not hide the config file's value
    decls = (f"--{flag}", _PREFIX + flag.replace("-", "_"))
    text = "  ".join(texts)
    if item.kind in (bool, Secret):
        return click.option(*decls, is_flag=True, default=None, help=text)
    if item.spec.choices:
        choices = click.Choice([str(choice) for choice in item.spec.choices])
        return click.option(*decls, type=choices, default=None, help=text)
    if item.kind is Path:
        path = click.Path(dir_okay=False, path_type=Path)
        return click.option(*decls, type=path, default=None, help=text)
    return click.option(*decls, type=item.kind, default=None, help=text)


def _value(item: OptionField, raw: object) -> object:
    """A click value as the option's type (choices come back as strings; secrets as switches)."""
    if item.kind is Secret:
        env = item.spec.env

        def ask() -> str:
            text: str = click.prompt("SSH password", hide_input=True, err=True)
            return text

        return Secret(env=env, prompt=ask) if raw else None
    if item.spec.choices and isinstance(raw, str):
        return next((c for c in item.spec.choices if str(c) == raw), raw)
    return raw


def platform_cli_options() -> Callable[[F], F]:
    """Decorator for a click command: adds ``--config`` and every built-in platform's flags.

    The command receives ``config: Config`` and ``platform_flags: PlatformFlags`` (only the
    flags given) and builds its platform's options with
    :func:`harness.platforms.platform_options`. Apply it below ``@click.command``.
    """
    flags = _flags()

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: object, **kwargs: object) -> object:
            context = click.get_current_context()
            given: dict[str, object] = {}
            for flag, owners in flags.items():
                name = _PREFIX + flag.replace("-", "_")
                raw = kwargs.pop(name, None)
                if context.get_parameter_source(name) in _GIVEN:
                    given[flag] = _value(owners[0][1], raw)
            config_path = kwargs.pop(_CONFIG, None)
            path = config_path if isinstance(config_path, Path) else default_config_path()
            kwargs["config"] = load_config(path)
            kwargs["platform_flags"] = given
            return command(*args, **kwargs)

        decorated = cast(F, wrapper)  # same call shape as ``command`` for click
        # click lists options in the reverse order of application
        for flag in reversed(flags):
            decorated = _click_option(flag, flags[flag])(decorated)
        config_option = click.option(
            "--config",
            _CONFIG,
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Config file (TOML) with [platform.NAME] tables of option defaults; flags "
            "override it. Default: $VMCERT_CONFIG when set.",
        )
        return config_option(decorated)

    return decorate


__all__ = ["PlatformFlags", "platform_cli_options"]
