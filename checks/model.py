"""The check model shared by offline inspection, online checks and every reporter.

A check is data (id, title, Microsoft's test name, area, severity, required value, the facts it
reads, its tunable parameters and their per-policy profiles) plus a pure
``evaluate(facts, params) -> Outcome``. Evaluation never touches SSH or the image: facts are
collected beforehand (:mod:`checks.fact`), by probes over SSH or by reading the image offline, so
the same check can judge either source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeAlias

from checks.errors import CheckConfigError
from checks.fact import Fact, Facts

JSON: TypeAlias = bool | int | float | str | Sequence["JSON"] | Mapping[str, "JSON"] | None
"""A value as JSON can hold it (parameters, run facts)."""

__all__ = [
    "JSON",
    "Check",
    "Evaluate",
    "Facts",
    "Outcome",
    "Params",
    "Result",
    "Severity",
    "Status",
    "Waiver",
]


class Params(Mapping[str, JSON]):
    """A check's parameters (defaults with policy overrides), with typed accessors."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, JSON] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, key: str) -> JSON:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values!r})"

    def integer(self, key: str) -> int:
        """``int(params[key])``."""
        value = self[key]
        if isinstance(value, int | float | str):
            return int(value)
        raise CheckConfigError(f"parameter {key!r} must be a number, got {value!r}")

    def text(self, key: str) -> str:
        """``str(params[key])``."""
        return str(self[key])

    def flag(self, key: str) -> bool:
        """Whether ``params[key]`` is set (truthy)."""
        return bool(self[key])

    def texts(self, key: str) -> list[str]:
        """``params[key]``, a list, as strings."""
        value = self[key]
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        raise CheckConfigError(f"parameter {key!r} must be a list, got {value!r}")


class Status(StrEnum):
    """The verdict of one check."""

    PASS = "pass"
    FAIL = "fail"
    WARNING = "warning"
    SKIPPED = "skipped"
    ERROR = "error"
    """The check could not reach a verdict (bad probe output, a bug): counts as a failure."""


class Severity(StrEnum):
    """What a violation means according to the sources (azure-certification.md)."""

    FAIL = "fail"
    """The image is rejected."""
    WARNING = "warning"
    """A recommendation; a violation is reported as a warning."""


@dataclass(frozen=True)
class Outcome:
    """What ``evaluate`` returns; :meth:`Check.run` turns it into a :class:`Result`."""

    status: Status
    actual: str
    message: str
    evidence: str = ""
    required: str | None = None
    """Overrides the check's formatted ``required`` text when the verdict needs a finer one."""


@dataclass(frozen=True)
class Waiver:
    """A waiver entry as applied to a result (the model of the entries: :mod:`checks.waivers`)."""

    check_id: str
    justification: str
    expires: str | None = None
    expired: bool = False


@dataclass(frozen=True)
class Result:
    """The verdict of one check on one image, as every reporter consumes it."""

    check_id: str
    title: str
    area: str
    status: Status
    actual: str
    required: str
    message: str
    evidence: str = ""
    severity: Severity = Severity.FAIL
    ms_test_name: str | None = None
    selftest_id: int | None = None
    waiver: Waiver | None = None
    """Set when a waiver entry matched; an expired waiver is recorded but does not apply."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each fact the verdict read came from (fact name → ``offline``, ``online`` ...)."""
    not_judged: str = ""
    """Why the check was not judged (status SKIPPED): none of its facts can be had from this
    source (a running system is needed, or the image's files cannot be read)."""

    @property
    def source(self) -> str | None:
        """``online`` when any fact of the verdict came from the running system, ``offline``
        when all came from the image; None when the verdict read no fact."""
        values = set(self.sources.values())
        if "online" in values:
            return "online"
        return "offline" if "offline" in values else None

    @property
    def waived(self) -> bool:
        """A failure that an unexpired waiver excuses: reported, but it does not fail the run."""
        return (
            self.waiver is not None
            and not self.waiver.expired
            and self.status in (Status.FAIL, Status.ERROR)
        )

    @property
    def failed(self) -> bool:
        """Whether this result fails the run."""
        return self.status in (Status.FAIL, Status.ERROR) and not self.waived

    def with_waiver(self, waiver: Waiver) -> Result:
        """A copy with ``waiver`` attached."""
        return replace(self, waiver=waiver)


Evaluate = Callable[[Facts, Params], Outcome]


@dataclass(frozen=True)
class Check:
    """One certification rule.

    ``facts`` are the facts ``evaluate`` judges. By default the check runs when at least one of
    them was collected (offline and online sources provide different subsets); with
    ``needs_all_facts`` it is skipped unless every one is present. ``evaluate`` may also read
    context facts it does not judge (the harness's footprint).
    """

    id: str
    title: str
    area: str
    severity: Severity
    required: str
    """Human text of the requirement; ``str.format``-ed with the effective params."""
    facts: tuple[Fact[object], ...]
    evaluate: Evaluate
    os_family: str = "linux"
    """``linux``, ``windows`` or ``any``."""
    params: Mapping[str, JSON] = field(default_factory=Params)
    """Default parameters (the ``marketplace`` policy)."""
    profiles: Mapping[str, Mapping[str, JSON]] = field(default_factory=dict)
    """Parameter overrides per policy profile (:data:`checks.policy.PROFILES`)."""
    ms_test_name: str | None = None
    selftest_id: int | None = None
    tags: frozenset[str] = frozenset()
    description: str = ""
    needs_all_facts: bool = False

    @property
    def fact_names(self) -> tuple[str, ...]:
        """The names of :attr:`facts`, in order."""
        return tuple(f.name for f in self.facts)

    def effective_params(self, overrides: Mapping[str, JSON] | None = None) -> Params:
        """The check's defaults with ``overrides`` applied; unknown keys are a config error."""
        merged = dict(self.params)
        for key, value in (overrides or {}).items():
            if key not in merged:
                known = ", ".join(sorted(merged)) or "none"
                raise CheckConfigError(
                    f"check {self.id!r} has no parameter {key!r} (known: {known})"
                )
            merged[key] = value
        return Params(merged)

    def required_text(self, params: Mapping[str, JSON] | None = None) -> str:
        """:attr:`required` formatted with ``params`` (default: the check's defaults)."""
        return self.required.format(**(self.params if params is None else params))

    def _result(self, outcome: Outcome, params: Params) -> Result:
        return Result(
            check_id=self.id,
            title=self.title,
            area=self.area,
            status=outcome.status,
            actual=outcome.actual,
            required=outcome.required
            if outcome.required is not None
            else self.required_text(params),
            message=outcome.message,
            evidence=outcome.evidence,
            severity=self.severity,
            ms_test_name=self.ms_test_name,
            selftest_id=self.selftest_id,
        )

    def run(self, facts: Facts, overrides: Mapping[str, JSON] | None = None) -> Result:
        """Evaluate against ``facts``; missing facts give SKIPPED, a crash gives ERROR."""
        params = self.effective_params(overrides)
        present = [name for name in self.fact_names if name in facts]
        missing = [name for name in self.fact_names if name not in facts]
        if not present or (self.needs_all_facts and missing):
            outcome = Outcome(Status.SKIPPED, "", f"not collected: {', '.join(missing)}")
            return self._result(outcome, params)
        try:
            outcome = self.evaluate(facts, params)
        except Exception as exc:  # a check bug must not abort the run; it becomes an ERROR result
            outcome = Outcome(Status.ERROR, "", f"evaluation error: {type(exc).__name__}: {exc}")
        return self._result(outcome, params)
