"""The registry of checks and the LISA-style ``@check`` decorator.

Built-in check areas register on import of their module (listed in ``BUILTIN_AREAS``); third-party
checks arrive through the ``vmcert.checks`` entry-point group, each entry point naming a
:class:`~checks.model.Check` object.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from checks.model import Check, Evaluate, Severity
from harness.registry import Registry

CHECKS: Registry[Check] = Registry("check", "vmcert.checks")

BUILTIN_AREAS: tuple[str, ...] = (
    "checks.image",
    "checks.disk",
    "checks.accounts",
    "checks.agent",
    "checks.kernel",
    "checks.sshd",
    "checks.packages",
    "checks.system",
)
"""Modules holding built-in checks, one per area; imported by :func:`load_builtin_checks`."""


def check(
    *,
    id: str,
    title: str,
    area: str,
    severity: Severity,
    required: str,
    facts: Iterable[str],
    os_family: str = "linux",
    params: Mapping[str, Any] | None = None,
    ms_test_name: str | None = None,
    selftest_id: int | None = None,
    tags: Iterable[str] = (),
    needs_all_facts: bool = False,
) -> Callable[[Evaluate], Check]:
    """Declare a check: decorate its pure ``evaluate(facts, params) -> Outcome`` function.

    The function's docstring becomes the check's description.
    """

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
            params=dict(params or {}),
            ms_test_name=ms_test_name,
            selftest_id=selftest_id,
            tags=frozenset(tags),
            description=(evaluate.__doc__ or "").strip(),
            needs_all_facts=needs_all_facts,
        )
        return CHECKS.add(id, created)

    return decorator


def load_builtin_checks() -> None:
    """Import every built-in check area so that its checks are registered."""
    for module in BUILTIN_AREAS:
        importlib.import_module(module)


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
            from harness.errors import InputError

            raise InputError(f"no check, area or tag is called {token!r} (see `vmcert checks`)")
    chosen = [c for c in pool if not include or any(_matches(c, t) for t in include)]
    return [c for c in chosen if not any(_matches(c, t) for t in skip)]
