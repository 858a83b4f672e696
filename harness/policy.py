"""Policies: which thresholds the checks use where the sources disagree (azure-certification.md §6).

Profiles:

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

The resulting :class:`Policy` names the profile and lists every override.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.model import Check
from harness.errors import ConfigError

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "marketplace": {},
    "selftest": {
        "ssh_client_alive_interval": {
            "warn_unless_recommended": True,
            "require_in_main_config": True,
        },
        "kernel_cmdline_rootdelay": {"mode": "warn"},
    },
    "lisa": {
        "bash_history": {"max_bytes": 0},
        "ssh_client_alive_interval": {"min": 1, "max": 180},
    },
}
"""Parameter overrides per profile, on top of each check's defaults (= marketplace)."""

DEFAULT_PROFILE = "marketplace"


@dataclass(frozen=True)
class Policy:
    """Effective parameter overrides for a run and where they came from."""

    name: str
    """The profile the policy starts from."""
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """check id -> {param: value}: profile values with the file's overrides applied."""
    overrides: tuple[str, ...] = ()
    """Human lines naming every override of a check default, e.g. ``ssh_client_alive_interval.max
    = 200 (file policy.toml)``."""
    source: str | None = None
    """The policy file, if any."""

    def for_check(self, check_id: str) -> dict[str, Any]:
        """Parameter overrides for one check (empty when none)."""
        return dict(self.params.get(check_id, {}))

    params_for = for_check

    def describe(self) -> str:
        """One line for reports: the profile, the file and the overrides count."""
        src = f" from {self.source}" if self.source else ""
        return f"{self.name}{src} ({len(self.overrides)} override(s))"


def _profile_policy(name: str) -> Policy:
    params = PROFILES[name]
    lines = tuple(
        f"{cid}.{key} = {value!r} (profile {name})"
        for cid, values in sorted(params.items())
        for key, value in sorted(values.items())
    )
    return Policy(name=name, params={k: dict(v) for k, v in params.items()}, overrides=lines)


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
            if (
                isinstance(default, bool) != isinstance(value, bool)
                or (
                    not isinstance(default, bool)
                    and isinstance(default, int | float)
                    and not isinstance(value, int | float)
                )
                or (isinstance(default, str) and not isinstance(value, str))
                or (isinstance(default, list) and not isinstance(value, list))
            ):
                raise ConfigError(
                    f"{where}: {cid}.{key} must be a {type(default).__name__} like "
                    f"{default!r}, got {value!r}"
                )


def load_policy(spec: str | None, checks: Iterable[Check] | None = None) -> Policy:
    """A policy from a profile name or a TOML file path (``None`` → the default profile).

    ``checks`` (default: every registered check) validates check ids, parameter names and value
    types; any problem is a one-line :class:`ConfigError` naming the file and the fix.
    """
    if checks is None:
        from checks.registry import CHECKS, load_builtin_checks

        load_builtin_checks()
        checks = list(CHECKS)
    checks = list(checks)
    if spec is None or spec in PROFILES:
        policy = _profile_policy(spec or DEFAULT_PROFILE)
        _validate(policy, checks, f"profile {policy.name}")
        return policy
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
    base = _profile_policy(base_name)
    section = data.get("checks", {})
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise ConfigError(f"{path}: write overrides as [checks.<check id>] tables of key = value")
    params = {k: dict(v) for k, v in base.params.items()}
    lines = list(base.overrides)
    for cid, values in sorted(section.items()):
        for key, value in sorted(values.items()):
            params.setdefault(cid, {})[key] = value
            lines.append(f"{cid}.{key} = {value!r} (file {path})")
    policy = Policy(name=base_name, params=params, overrides=tuple(lines), source=str(path))
    _validate(policy, checks, str(path))
    return policy
