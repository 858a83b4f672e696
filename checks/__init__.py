"""vmcert certification checks: declarative metadata plus a pure ``evaluate(facts, params)``."""

from checks.model import Check, Facts, Outcome, Params, Result, Severity, Status
from checks.registry import CHECKS, check, select_checks

__all__ = [
    "CHECKS",
    "Check",
    "Facts",
    "Outcome",
    "Params",
    "Result",
    "Severity",
    "Status",
    "check",
    "select_checks",
]
