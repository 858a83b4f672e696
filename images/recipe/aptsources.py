"""The host's Debian apt sources: the mirror the test image is built from and points at."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from images.errors import ImageInputError

SUITE = "bookworm"
"""Debian 12."""


@dataclass(frozen=True)
class AptSource:
    """One Debian apt source taken from the host: a URI with its suites and components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None

    def one_line(self) -> str:
        """The one-line ``deb`` form mmdebstrap takes as a mirror argument."""
        options = f"[signed-by={self.signed_by}] " if self.signed_by else ""
        return f"deb {options}{self.uri} {' '.join(self.suites)} {' '.join(self.components)}"


def host_apt_sources(
    sources_list: Path = Path("/etc/apt/sources.list"),
    sources_dir: Path = Path("/etc/apt/sources.list.d"),
) -> list[AptSource]:
    """The host's Debian ``bookworm*`` sources (deb822 ``*.sources`` and one-line lists).

    Mirror host names come from the host's configuration only; the recipe never names one. When
    the host has no ``-security`` or ``-updates`` suite the conventional layout is derived from the
    main mirror URI (``…/debian`` → ``…/debian-security``).
    """
    found: list[AptSource] = []
    files = [sources_list] if sources_list.is_file() else []
    if sources_dir.is_dir():
        files += sorted(sources_dir.glob("*.list")) + sorted(sources_dir.glob("*.sources"))
    for path in files:
        text = path.read_text(errors="replace")
        found += _parse_deb822(text) if path.suffix == ".sources" else _parse_one_line(text)
    sources = [s for s in found if s.suites]
    suites = {suite for s in sources for suite in s.suites}
    main = next((s for s in sources if SUITE in s.suites), None)
    if main is None:
        raise ImageInputError(
            f"no '{SUITE}' apt source in {sources_list} or {sources_dir}/*.sources: the test image "
            "is built from the host's Debian mirror; add one (or build on a Debian 12 host)"
        )
    if f"{SUITE}-updates" not in suites:
        sources.append(AptSource(main.uri, (f"{SUITE}-updates",), main.components, main.signed_by))
    if f"{SUITE}-security" not in suites:
        security_uri = main.uri.rstrip("/") + "-security"
        sources.append(
            AptSource(security_uri, (f"{SUITE}-security",), main.components, main.signed_by)
        )
    return sources


def image_sources_file(sources: list[AptSource]) -> str:
    """The deb822 ``debian.sources`` written into the image (main, -updates and -security)."""
    stanzas = []
    for source in sources:
        stanzas.append(
            "Types: deb\n"
            f"URIs: {source.uri}\n"
            f"Suites: {' '.join(source.suites)}\n"
            f"Components: {' '.join(source.components)}\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
    return "\n".join(stanzas)


def _keep_suites(suites: list[str]) -> tuple[str, ...]:
    allowed = {SUITE, f"{SUITE}-updates", f"{SUITE}-security"}
    return tuple(s for s in suites if s in allowed)


def _parse_deb822(text: str) -> list[AptSource]:
    result = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = _keep_suites(fields.get("suites", "").split())
        components = tuple(fields.get("components", "main").split()) or ("main",)
        signed_by = fields.get("signed-by") or None
        if signed_by and not signed_by.startswith("/"):
            signed_by = None  # an inline key block; the image has the Debian keyring anyway
        for uri in fields.get("uris", "").split():
            result.append(AptSource(uri, suites, components, signed_by))
    return result


def _parse_one_line(text: str) -> list[AptSource]:
    result = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        signed_by = None
        options = re.match(r"deb\s+\[([^\]]*)\]\s*", line)
        if options:
            for opt in options.group(1).split():
                if opt.startswith("signed-by="):
                    signed_by = opt.split("=", 1)[1]
            rest = line[options.end() :].split()
        else:
            rest = line.split()[1:]
        if len(rest) < 2:
            continue
        suites = _keep_suites([rest[1]])
        result.append(AptSource(rest[0], suites, tuple(rest[2:]) or ("main",), signed_by))
    return result
