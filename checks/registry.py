"""The registry of checks and the LISA-style ``@check`` decorator.

Built-in checks live in the modules of the :mod:`checks.areas` package, one per area; they are
discovered and register on import. Third-party checks arrive through the ``vmcert.checks``
entry-point group, each entry point naming a :class:`~checks.model.Check` object.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping

import checks.areas
from checks.errors import CheckConfigError
from checks.fact import Fact
from checks.model import JSON, Check, Evaluate, Params, Severity
from checks.policy import DEFAULT_PROFILE, PROFILES
from images.registry import Registry

CHECKS: Registry[Check] = Registry("check", "vmcert.checks", builtins=lambda: load_builtin_checks())


def _profiles(
    check_id: str, params: Mapping[str, JSON], profiles: Mapping[str, Mapping[str, JSON]]
) -> dict[str, dict[str, JSON]]:
    """``profiles`` validated against the known profiles and the check's parameters."""
    out: dict[str, dict[str, JSON]] = {}
    for name, values in profiles.items():
        if name not in PROFILES or name == DEFAULT_PROFILE:
            allowed = ", ".join(p for p in PROFILES if p != DEFAULT_PROFILE)
            raise CheckConfigError(
                f"check {check_id!r}: no profile {name!r} to declare values for "
                f"(the defaults are {DEFAULT_PROFILE}; profiles: {allowed})"
            )
        for key in values:
            if key not in params:
                raise CheckConfigError(
                    f"check {check_id!r}: profile {name!r} sets {key!r}, which is not a parameter"
                )
        out[name] = dict(values)
    return out


def check(
    *,
    id: str,
    title: str,
    area: str,
    severity: Severity,
    required: str,
    facts: Iterable[Fact[object]],
    os_family: str = "linux",
    params: Mapping[str, JSON] | None = None,
    profiles: Mapping[str, Mapping[str, JSON]] | None = None,
    ms_test_name: str | None = None,
    selftest_id: int | None = None,
    tags: Iterable[str] = (),
    needs_all_facts: bool = False,
) -> Callable[[Evaluate], Check]:
    """Declare a check: decorate its pure ``evaluate(facts, params) -> Outcome`` function.

    ``params`` are the defaults (the marketplace criteria); ``profiles`` maps another policy
    profile to the values it uses instead. The function's docstring becomes the description.
    """
    defaults = dict(params or {})
    per_profile = _profiles(id, defaults, profiles or {})

    def decorator(evaluate: Evaluate) -> Check:
        created = Check(
            id=id,
            title=title,
            area=area,
            severity=severity,
            required=required,
            facts=tuple(facts),
            evaluate=evaluate,
            os_family=os_family,
            params=Params(defaults),
            profiles=per_profile,
            ms_test_name=ms_test_name,
            selftest_id=selftest_id,
            tags=frozenset(tags),
            description=(evaluate.__doc__ or "").strip(),
            needs_all_facts=needs_all_facts,
        )
        return CHECKS.add(id, created)

    return decorator


def load_builtin_checks() -> None:
    """Import every area module of :mod:`checks.areas` so that its checks are registered."""
    for info in pkgutil.iter_modules(checks.areas.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{checks.areas.__name__}.{info.name}")


def _matches(item: Check, token: str) -> bool:
    return token in (item.id, item.area) or token in item.tags


def select_checks(
    include: Iterable[str] = (), skip: Iterable[str] = (), *, tag: str | None = None
) -> list[Check]:
    """Checks whose id, area or tag matches a token of ``include`` (all when empty), minus ``skip``.

    ``tag`` restricts the pool first (``"offline"`` for image inspection, ``"online"`` for SSH).
    A token that matches nothing is an error, so a typo in ``--checks`` cannot silently select none.
    """
    load_builtin_checks()
    pool = [c for c in CHECKS if tag is None or tag in c.tags]
    include, skip = list(include), list(skip)
    for token in [*include, *skip]:
        if not any(_matches(c, token) for c in CHECKS):
            raise CheckConfigError(
                f"no check, area or tag is called {token!r} (see `vmcert checks`)"
            )
    chosen = [c for c in pool if not include or any(_matches(c, t) for t in include)]
    return [c for c in chosen if not any(_matches(c, t) for t in skip)]
