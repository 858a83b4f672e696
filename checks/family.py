"""Distribution families: which family an ``/etc/os-release`` names, in Python and in shell.

A fact may carry one shell text per family (``NAME.FAMILY.sh``); the batch script picks the
family on the guest with :data:`FAMILY_DETECT_SH`, which mirrors :func:`detect_family`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

FAMILIES = ("debian", "rhel", "suse", "azurelinux")
"""Distribution families a fact's shell text may specialise for."""

_FAMILY_IDS: dict[str, str] = {
    "debian": "debian",
    "ubuntu": "debian",
    "rhel": "rhel",
    "centos": "rhel",
    "fedora": "rhel",
    "rocky": "rhel",
    "almalinux": "rhel",
    "ol": "rhel",
    "sles": "suse",
    "sled": "suse",
    "opensuse": "suse",
    "opensuse-leap": "suse",
    "suse": "suse",
    "mariner": "azurelinux",
    "azurelinux": "azurelinux",
}


def parse_os_release(text: str) -> dict[str, str]:
    """Parse ``/etc/os-release`` (``KEY=value`` lines, optionally quoted) into a dict."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values


def detect_family(os_release: str | Mapping[str, str]) -> str:
    """The distribution family of an ``/etc/os-release`` text: ``ID`` first, then ``ID_LIKE``.

    Returns ``"unknown"`` when neither names a known family.
    """
    info = parse_os_release(os_release) if isinstance(os_release, str) else os_release
    for candidate in [info.get("ID", ""), *info.get("ID_LIKE", "").split()]:
        family = _FAMILY_IDS.get(candidate.lower())
        if family:
            return family
    return "unknown"


# The same detection in shell, for the batch preamble (mirrors detect_family()).
FAMILY_DETECT_SH = r"""VMCERT_FAMILY=unknown
if [ -r /etc/os-release ]; then
  for _id in $( . /etc/os-release; echo "$ID $ID_LIKE" ); do
    case "$_id" in
      debian|ubuntu) VMCERT_FAMILY=debian;;
      rhel|centos|fedora|rocky|almalinux|ol) VMCERT_FAMILY=rhel;;
      sles|sled|opensuse|opensuse-leap|suse) VMCERT_FAMILY=suse;;
      mariner|azurelinux) VMCERT_FAMILY=azurelinux;;
      *) continue;;
    esac
    break
  done
fi
export VMCERT_FAMILY"""
