"""Policies: which thresholds the checks use where the sources disagree (azure-certification.md §6).

Each check declares its defaults (``params``, the ``marketplace`` criteria) and, per profile, the
values another source asks for (``profiles``). A :class:`Policy` names one profile plus any
overrides a policy file adds; :meth:`Policy.params_for` gives a check's effective parameters.
Loading a policy file is the harness's job (:mod:`harness.policy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checks.errors import CheckConfigError
from checks.model import JSON, Check, Params

PROFILES: Mapping[str, str] = {
    "marketplace": "the 2021–22 documented criteria (every check's defaults)",
    "selftest": "the self-test API's stricter warnings",
    "lisa": "Microsoft's LISA AzureImageStandard",
}
"""The policy profiles a check may declare values for."""

DEFAULT_PROFILE = "marketplace"


@dataclass(frozen=True)
class Policy:
    """Effective parameter overrides for a run and where they came from."""

    name: str = DEFAULT_PROFILE
    """The profile the policy starts from."""
    params: Mapping[str, Mapping[str, JSON]] = field(default_factory=dict)
    """check id -> {param: value}: the profile's values with a file's overrides applied."""
    overrides: tuple[str, ...] = ()
    """Human lines naming every override of a check default, e.g. ``ssh_client_alive_interval.max
    = 200 (file policy.toml)``."""
    source: str | None = None
    """The policy file, if any."""

    @classmethod
    def profile(cls, name: str, checks: Iterable[Check]) -> Policy:
        """The policy of profile ``name``: the values ``checks`` declare for it."""
        if name not in PROFILES:
            raise CheckConfigError(f"profile {name!r} unknown; use one of {', '.join(PROFILES)}")
        params = {c.id: dict(c.profiles[name]) for c in checks if c.profiles.get(name)}
        lines = tuple(
            f"{cid}.{key} = {value!r} (profile {name})"
            for cid, values in sorted(params.items())
            for key, value in sorted(values.items())
        )
        return cls(name=name, params=params, overrides=lines)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, JSON]], origin: str) -> Policy:
        """A copy with ``overrides`` (check id -> {param: value}) applied on top, each described
        as coming from ``origin`` (e.g. ``file policy.toml``)."""
        params = {k: dict(v) for k, v in self.params.items()}
        lines = list(self.overrides)
        for cid, values in sorted(overrides.items()):
            for key, value in sorted(values.items()):
                params.setdefault(cid, {})[key] = value
                lines.append(f"{cid}.{key} = {value!r} ({origin})")
        return Policy(self.name, params, tuple(lines), self.source)

    def for_check(self, check_id: str) -> dict[str, JSON]:
        """Parameter overrides for one check (empty when none)."""
        return dict(self.params.get(check_id, {}))

    def params_for(self, check: Check) -> Params:
        """``check``'s effective parameters: defaults, its profile values, then the overrides."""
        overrides = {**check.profiles.get(self.name, {}), **self.for_check(check.id)}
        return check.effective_params(overrides)

    def describe(self) -> str:
        """One line for reports: the profile, the file and the overrides count."""
        src = f" from {self.source}" if self.source else ""
        return f"{self.name}{src} ({len(self.overrides)} override(s))"
