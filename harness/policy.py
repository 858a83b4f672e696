"""Loading a policy: a profile name or a TOML policy file (azure-certification.md §6).

Profiles (their values live on the checks that use them, see :mod:`checks.policy`):

* ``marketplace`` (default): the 2021–22 documented criteria. ClientAliveInterval 30–235,
  rootdelay not required (removed Nov 2021), bash history ≤ 1 KB, agent ≥ 2.2.41, OpenSSL ≥ 0.9.8.
* ``selftest``: the self-test API's stricter warnings. ClientAliveInterval other than exactly 180
  is a warning (and so is a value only set in an Include drop-in), a missing rootdelay=300 is a
  warning.
* ``lisa``: Microsoft's LISA AzureImageStandard. Bash history must be empty, ClientAliveInterval
  1–180.

A TOML policy file can start from a profile and override any parameter of any check::

    profile = "marketplace"          # optional, default marketplace
    [checks.ssh_client_alive_interval]
    max = 200

The resulting :class:`~checks.policy.Policy` names the profile and lists every override.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from checks.model import JSON, Check
from checks.policy import DEFAULT_PROFILE, PROFILES, Policy
from checks.registry import CHECKS, load_builtin_checks
from harness.errors import ConfigError

__all__ = ["DEFAULT_PROFILE", "PROFILES", "Policy", "load_policy"]


def _type_error(default: JSON, value: JSON) -> bool:
    """Whether ``value`` cannot stand in for a parameter whose default is ``default``."""
    return (
        isinstance(default, bool) != isinstance(value, bool)
        or (
            not isinstance(default, bool)
            and isinstance(default, int | float)
            and not isinstance(value, int | float)
        )
        or (isinstance(default, str) and not isinstance(value, str))
        or (isinstance(default, list) and not isinstance(value, list))
    )


def _validate(policy: Policy, checks: Iterable[Check], where: str) -> None:
    known = {c.id: c for c in checks}
    for cid, values in policy.params.items():
        if cid not in known:
            raise ConfigError(f"{where}: no check is called {cid!r}; see `vmcert checks` for ids")
        defaults = known[cid].params
        for key, value in values.items():
            if key not in defaults:
                names = ", ".join(sorted(defaults)) or "none"
                raise ConfigError(
                    f"{where}: check {cid!r} has no parameter {key!r} (known: {names})"
                )
            default = defaults[key]
            if _type_error(default, value):
                raise ConfigError(
                    f"{where}: {cid}.{key} must be a {type(default).__name__} like "
                    f"{default!r}, got {value!r}"
                )


def load_policy(spec: str | None, checks: Iterable[Check] | None = None) -> Policy:
    """A policy from a profile name or a TOML file path (``None`` → the default profile).

    ``checks`` (default: every registered check) supply the profiles' values and validate check
    ids, parameter names and value types; any problem is a one-line :class:`ConfigError` naming
    the file and the fix.
    """
    if checks is None:
        load_builtin_checks()
        checks = list(CHECKS)
    checks = list(checks)
    if spec is None or spec in PROFILES:
        return Policy.profile(spec or DEFAULT_PROFILE, checks)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"policy {spec!r} is neither a profile ({', '.join(PROFILES)}) "
            "nor an existing TOML file"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    unknown = set(data) - {"profile", "checks"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; allowed: profile, [checks.<id>]"
        )
    base_name = data.get("profile", DEFAULT_PROFILE)
    if base_name not in PROFILES:
        raise ConfigError(
            f"{path}: profile {base_name!r} unknown; use one of {', '.join(PROFILES)}"
        )
    section = data.get("checks", {})
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise ConfigError(f"{path}: write overrides as [checks.<check id>] tables of key = value")
    base = Policy.profile(base_name, checks)
    policy = replace(base.with_overrides(section, f"file {path}"), source=str(path))
    _validate(policy, checks, str(path))
    return policy
