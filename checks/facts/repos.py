"""The ``repos`` fact: the configured package repositories, apt sources (Debian family) or the
sections of yum/dnf/zypper ``.repo`` files (the other families)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from checks.fact import fact
from checks.parsing import sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage

_URL_KEYS = ("baseurl", "mirrorlist", "metalink")


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source: a one-line entry or a URI of a deb822 stanza."""

    uri: str
    suites: tuple[str, ...]
    """``bookworm``, ``bookworm-security``; ``buster/updates`` on Debian ≤ 10's security host."""
    host: str
    """The URI's host name (the URI itself when it has none)."""


@dataclass(frozen=True)
class RepoSection:
    """One ``[id]`` section of a ``.repo`` file."""

    id: str
    enabled: bool
    """False when the section sets ``enabled=0``."""


@dataclass(frozen=True)
class RepoFile:
    """One repository file, read both ways (the probe prints what the family uses)."""

    path: str
    """The file; ``""`` for lines before the first ``### path`` line (the probe prints none)."""
    lines: tuple[str, ...]
    """The lines printed: apt's non-comment lines, or a .repo file's ``[id]``, ``name``,
    ``baseurl``, ``mirrorlist``, ``metalink`` and ``enabled`` lines."""
    apt_sources: tuple[AptSource, ...] = ()
    repo_sections: tuple[RepoSection, ...] = ()
    hosts: tuple[str, ...] = ()
    """Host names of the file's ``baseurl``/``mirrorlist``/``metalink`` URLs."""


@dataclass(frozen=True)
class Repos:
    """Every repository file found, in the probe's order (none: no repository configured)."""

    files: tuple[RepoFile, ...] = ()


def _host(url: str, path: str) -> str | None:
    try:
        return urlparse(url).hostname
    except ValueError as exc:  # an unbalanced "[" in the host part
        raise ValueError(f"{path}: bad URL {url!r} ({exc})") from None


def _apt_sources(path: str, lines: list[str]) -> list[AptSource]:
    """One-line ``deb`` entries and deb822 stanzas (``URIs:`` then ``Suites:``)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    uris: list[str] = []
    for line in lines:
        words = line.split()
        if not words:
            continue
        if words[0] == "deb":
            rest = words[1:]
            if "[" in line:  # an options block: deb [arch=amd64 signed-by=...] URI SUITE ...
                _, bracket, after = line.partition("]")
                if not bracket:
                    raise ValueError(f"{path}: '[' without ']' in {line!r}")
                rest = after.split()
            if len(rest) >= 2:
                found.append((rest[0], (rest[1],)))
        elif words[0].lower() == "uris:":
            uris = words[1:]
        elif words[0].lower() == "suites:":
            found.extend((uri, tuple(words[1:])) for uri in uris)
    return [AptSource(uri, suites, _host(uri, path) or uri) for uri, suites in found]


def _repo_sections(path: str, lines: list[str]) -> tuple[list[RepoSection], list[str]]:
    """``[id]`` sections with their ``enabled=0``, and the URLs' host names."""
    found: list[RepoSection] = []
    hosts: list[str] = []
    current, enabled = "", True
    for raw in lines:
        line = raw.strip()
        if line.startswith("["):
            if current:
                found.append(RepoSection(current, enabled))
            current, enabled = line.strip("[]"), True
        elif line.replace(" ", "").lower().startswith("enabled=0"):
            enabled = False
        elif "=" in line and line.split("=", 1)[0].strip() in _URL_KEYS:
            host = _host(line.split("=", 1)[1].strip(), path)
            if host:
                hosts.append(host)
    if current:
        found.append(RepoSection(current, enabled))
    return found, hosts


def parse(text: str) -> Repos:
    """One ``### path`` section per file."""
    parts = sections(text)
    files = []
    for path, body in parts.items():
        lines = body.splitlines()
        repo_sections, hosts = _repo_sections(path, lines)
        files.append(
            RepoFile(
                path=path,
                lines=tuple(lines),
                apt_sources=tuple(_apt_sources(path, lines)),
                repo_sections=tuple(repo_sections),
                hosts=tuple(hosts),
            )
        )
    return Repos(tuple(files))


_REPO_LINE = re.compile(r"^[ \t\r\f\v]*(\[|name|baseurl|mirrorlist|metalink|enabled)")


def read_offline(image: OfflineImage) -> str:
    """The repository files as the family's probe prints them (apt's non-comment lines, or the
    section/name/URL/enabled lines of .repo files)."""
    from checks.offline.image import ltrim

    out = []
    if image.family == "debian":
        patterns = (
            "/etc/apt/sources.list",
            "/etc/apt/sources.list.d/*.list",
            "/etc/apt/sources.list.d/*.sources",
        )
        for path in (p for pattern in patterns for p in image.glob(pattern)):
            if not image.is_file(path):
                continue
            out.append(f"### {path}")
            out += [ln for ln in image.lines(path) if ltrim(ln) and not ltrim(ln).startswith("#")]
    else:
        patterns = (
            "/etc/yum.repos.d/*.repo",
            "/etc/zypp/repos.d/*.repo",
            "/etc/dnf/repos.d/*.repo",
        )
        for path in (p for pattern in patterns for p in image.glob(pattern)):
            if not image.is_file(path):
                continue
            out.append(f"### {path}")
            out += [ln for ln in image.lines(path) if _REPO_LINE.match(ln)]
    return "".join(f"{line}\n" for line in out)


FACT = fact(
    "repos",
    parse,
    description="configured package repositories (apt sources or yum/zypp .repo files)",
    offline=read_offline,
)
