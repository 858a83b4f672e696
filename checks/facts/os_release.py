"""The ``os_release`` fact: ``/etc/os-release`` (else ``/usr/lib/os-release``), key by key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.family import detect_family, parse_os_release

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class OsRelease:
    """The distribution's identification (os-release(5)); a missing key reads as ``""``."""

    values: Mapping[str, str] = field(default_factory=dict)
    """Every ``KEY=value`` line, unquoted; the last of a repeated key wins."""

    def get(self, key: str, default: str = "") -> str:
        """The value of ``key`` (``default`` when the file does not set it)."""
        return self.values.get(key, default)

    @property
    def id(self) -> str:
        """``ID``, e.g. ``debian``, ``rhel``, ``sles``."""
        return self.get("ID")

    @property
    def id_like(self) -> str:
        """``ID_LIKE``: space-separated IDs of related distributions."""
        return self.get("ID_LIKE")

    @property
    def version_id(self) -> str:
        """``VERSION_ID``, e.g. ``12``, ``9.4``, ``22.04``."""
        return self.get("VERSION_ID")

    @property
    def version_codename(self) -> str:
        """``VERSION_CODENAME``, e.g. ``bookworm`` (Debian and Ubuntu)."""
        return self.get("VERSION_CODENAME")

    @property
    def family(self) -> str:
        """The distribution family (:func:`checks.family.detect_family`), ``unknown`` if none."""
        return detect_family(self.values)


def parse(text: str) -> OsRelease:
    """``KEY=value`` lines, optionally quoted; comments and other lines are ignored."""
    return OsRelease(parse_os_release(text))


def read_offline(image: OfflineImage) -> str:
    """``vp_cat /etc/os-release || vp_cat /usr/lib/os-release``: the first file, as it is."""
    from checks.offline.image import OfflineError

    for path in ("/etc/os-release", "/usr/lib/os-release"):
        if image.is_file(path):
            return image.read_text(path)
    raise OfflineError("neither /etc/os-release nor /usr/lib/os-release is in the image")


FACT = fact(
    "os_release",
    parse,
    description="/etc/os-release",
    offline=read_offline,
)
