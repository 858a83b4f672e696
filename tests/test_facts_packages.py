"""The packages-area facts parse what their probes print: glibc, openssl, python and repos."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.facts import glibc, openssl, python, repos

RECORDED = Path(__file__).parent / "fixtures" / "probe_outputs"


def recorded(distro: str, fact: str) -> str:
    return (RECORDED / distro / f"{fact}.txt").read_text()


@pytest.mark.parametrize(
    ("text", "upstream", "package"),
    [
        ("glibc 2.36\npackage=2.36-9+deb12u14\n", "2.36", "2.36-9+deb12u14"),
        ("ldd (Debian GLIBC 2.36-9+deb12u9) 2.36\n", "2.36", None),  # the default text's fallback
        ("glibc 2.17\npackage=\n", "2.17", None),
        ("package=2.17-55.el7\n", None, "2.17-55.el7"),  # no version before the package line
        ("", None, None),
    ],
)
def test_glibc(text: str, upstream: str | None, package: str | None) -> None:
    assert glibc.parse(text) == glibc.Glibc(upstream=upstream, package=package)


@pytest.mark.parametrize(
    ("text", "version", "banner"),
    [
        (
            "OpenSSL 3.0.15 3 Sep 2024 (Library: OpenSSL 3.0.15 3 Sep 2024)\n",
            "3.0.15",
            "OpenSSL 3.0.15 3 Sep 2024 (Library: OpenSSL 3.0.15 3 Sep 2024)",
        ),
        ("OpenSSL 1.0.2k-fips  26 Jan 2017\n", "1.0.2k", "OpenSSL 1.0.2k-fips  26 Jan 2017"),
        ("LibreSSL 3.3.6\n", "3.3.6", "LibreSSL 3.3.6"),
        ("sh: 1: openssl: not found\nabsent\n", None, "sh: 1: openssl: not found"),
        ("", None, ""),
    ],
)
def test_openssl(text: str, version: str | None, banner: str) -> None:
    value = openssl.parse(text)
    assert (value.version, value.banner, value.text) == (version, banner, text.strip())


@pytest.mark.parametrize(
    ("text", "version"),
    [("Python 3.11.2\n", "3.11.2"), ("Python 2.7.18\n", "2.7.18"), ("absent\n", None), ("", None)],
)
def test_python(text: str, version: str | None) -> None:
    assert python.parse(text) == python.Python(version)


def test_repos_deb822_stanzas() -> None:
    files = repos.parse(recorded("debian12", "repos")).files
    assert [f.path for f in files] == ["/etc/apt/sources.list.d/debian.sources"]
    assert files[0].apt_sources == (
        repos.AptSource(
            "http://mirror.example.net/debian",
            ("bookworm", "bookworm-updates"),
            "mirror.example.net",
        ),
        repos.AptSource(
            "http://mirror.example.net/debian-security",
            ("bookworm-security",),
            "mirror.example.net",
        ),
    )
    assert files[0].lines[0] == "Types: deb" and files[0].repo_sections == ()


def test_repos_one_line_entries_with_an_options_block() -> None:
    text = (
        "### /etc/apt/sources.list\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n"
        "deb cdrom:/media/ bookworm main\n"
        "deb-src http://m.example/debian bookworm main\n"
        "deb http://only-a-uri.example/\n"
    )
    (found,) = repos.parse(text).files
    assert found.apt_sources == (
        repos.AptSource("http://m.example/debian", ("bookworm",), "m.example"),
        repos.AptSource("cdrom:/media/", ("bookworm",), "cdrom:/media/"),  # no host: the URI
    )


def test_repos_sections_of_repo_files() -> None:
    files = repos.parse(recorded("rhel9", "repos")).files
    assert len(files) == 2
    assert [(s.id, s.enabled) for s in files[0].repo_sections] == [
        ("rhui-rhel-9-for-x86_64-baseos-rhui-rpms", True),
        ("rhui-rhel-9-for-x86_64-baseos-rhui-source-rpms", False),
        ("rhui-rhel-9-for-x86_64-appstream-rhui-rpms", True),
    ]
    assert set(files[0].hosts) == {"rhui.example.net"} and len(files[0].hosts) == 3
    sles = repos.parse(recorded("sles15", "repos")).files
    assert sles[0].hosts == ()  # plugin:/susecloud?... has no host
    odd = repos.parse("### /etc/yum.repos.d/x.repo\nenabled=0\n[]\n[a]\nenabled = 0\nenabled=1\n")
    assert odd.files[0].repo_sections == (repos.RepoSection("a", False),)


def test_repos_hostile_lines_are_parse_errors() -> None:
    with pytest.raises(ValueError, match=r"/etc/apt/sources.list: '\[' without '\]'"):
        repos.parse("### /etc/apt/sources.list\ndeb [arch=amd64 http://x/ bookworm main\n")
    with pytest.raises(ValueError, match=r"x\.repo: bad URL 'http://"):
        repos.parse("### /etc/yum.repos.d/x.repo\n[a]\nbaseurl=http://[fe80::1/repo\n")
    assert repos.parse("").files == ()
