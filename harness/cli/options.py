"""Option parsing shared by the commands."""

from __future__ import annotations

from collections.abc import Iterable


def split_list(values: Iterable[str]) -> list[str]:
    """Items of a repeatable option that also takes comma-separated lists, blanks dropped.

    ``("eastus,westeurope", " southeastasia ")`` → ``["eastus", "westeurope", "southeastasia"]``.
    """
    return [item.strip() for value in values for item in value.split(",") if item.strip()]
