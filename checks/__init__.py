"""vmcert certification checks: declarative metadata plus a pure ``evaluate(facts, params)``."""

from checks.fact import FACTS, Fact, Facts, fact
from checks.model import Check, Outcome, Params, Result, Severity, Status
from checks.plan import CheckPlan
from checks.registry import CHECKS, check, select_checks

__all__ = [
    "CHECKS",
    "FACTS",
    "Check",
    "CheckPlan",
    "Fact",
    "Facts",
    "Outcome",
    "Params",
    "Result",
    "Severity",
    "Status",
    "check",
    "fact",
    "select_checks",
]
