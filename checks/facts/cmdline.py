"""The ``cmdline`` fact: the running kernel's command line (``/proc/cmdline``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class Cmdline:
    """The kernel command line as text and as blank-separated parameters."""

    text: str
    """The command line without surrounding blanks."""
    params: tuple[str, ...]
    """Its parameters in order (``console=ttyS0,115200``, ``ro``, ``quiet``)."""

    def __contains__(self, param: object) -> bool:
        """Whether ``param`` (e.g. ``numa=off``) is one of the parameters, exactly."""
        return param in self.params

    def values(self, key: str) -> tuple[str, ...]:
        """The values given to ``key`` in order (``console=ttyS0 console=tty0`` gives both)."""
        prefix = key + "="
        return tuple(p[len(prefix) :] for p in self.params if p.startswith(prefix))


def parse(text: str) -> Cmdline:
    """The whole text is one command line."""
    stripped = text.strip()
    return Cmdline(text=stripped, params=tuple(stripped.split()))


def read_offline(image: OfflineImage) -> str:
    """The command line the default boot entry gives the kernel (:mod:`checks.offline.boot`)."""
    return image.boot.cmdline + "\n"


FACT = fact(
    "cmdline",
    parse,
    description="the running kernel's command line",
    offline=read_offline,
    offline_note="what /proc/cmdline shows on a boot of the default boot entry",
)
