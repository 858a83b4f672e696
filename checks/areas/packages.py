"""Packages area: OpenSSL, Python, glibc GHOST, package repositories."""

from __future__ import annotations

from checks.common import BOTH, clip, version_ge
from checks.facts.glibc import FACT as GLIBC
from checks.facts.glibc import Glibc
from checks.facts.openssl import FACT as OPENSSL
from checks.facts.os_release import FACT as OS_RELEASE
from checks.facts.os_release import OsRelease
from checks.facts.python import FACT as PYTHON
from checks.facts.repos import FACT as REPOS
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


@check(
    id="openssl_version",
    title="OpenSSL version",
    area="packages",
    severity=Severity.FAIL,
    required="OpenSSL ≥ {min_version}",
    facts=[OPENSSL],
    params={"min_version": "0.9.8"},
    ms_test_name="OpenSSL Version",
    selftest_id=44,
    tags=BOTH,
)
def openssl_version(facts: Facts, params: Params) -> Outcome:
    """``openssl version`` must report at least ``min_version`` (tool: 0.9.8; S8/S10 ask 1.0)."""
    openssl = facts.require(OPENSSL)
    version = openssl.version
    if version is None:
        return Outcome(Status.FAIL, openssl.text[:80] or "absent", "OpenSSL is not installed")
    minimum = params.text("min_version")
    if version_ge(version, minimum):
        return Outcome(Status.PASS, version, openssl.banner)
    return Outcome(Status.FAIL, version, f"OpenSSL {version} older than {minimum}")


@check(
    id="python_version",
    title="Python version",
    area="packages",
    severity=Severity.WARNING,
    required="Python ≥ {min_version}",
    facts=[PYTHON],
    params={"min_version": "2.6"},
    ms_test_name="Python Version",
    selftest_id=45,
    tags=BOTH,
)
def python_version(facts: Facts, params: Params) -> Outcome:
    """Python 2.6 or later is "highly recommended" (the agent needs it): a warning otherwise."""
    version = facts.require(PYTHON).version
    if version is None:
        return Outcome(Status.WARNING, "absent", "no Python interpreter found")
    minimum = params.text("min_version")
    if version_ge(version, minimum):
        return Outcome(Status.PASS, version, f"Python {version}")
    return Outcome(Status.WARNING, version, f"Python {version} older than {minimum}")


# GHOST (CVE-2015-0235): upstream glibc fixed it in 2.18; distributions backported the fix.
# First fixed package version per (os-release ID, VERSION_ID prefix), from the vendor advisories
# (RHSA-2015:0090/0092, DSA-3142-1, USN-2485-1, SUSE-SU-2015:0158-1).
GHOST_FIXED: dict[tuple[str, str], str] = {
    ("rhel", "6"): "2.12-1.149.el6_6.5",
    ("centos", "6"): "2.12-1.149.el6_6.5",
    ("rhel", "7"): "2.17-55.el7_0.5",
    ("centos", "7"): "2.17-55.el7_0.5",
    ("debian", "7"): "2.13-38+deb7u7",
    ("ubuntu", "10.04"): "2.11.1-0ubuntu7.20",
    ("ubuntu", "12.04"): "2.15-0ubuntu10.10",
    ("sles", "11"): "2.11.3-17.74.13",
}
GHOST_UPSTREAM_FIXED = "2.18"


@check(
    id="security_threats",
    title="No known high-profile vulnerability (glibc GHOST)",
    area="packages",
    severity=Severity.WARNING,
    required="OS impacted by GHOSTS: no",
    facts=[GLIBC, OS_RELEASE],
    ms_test_name="Security threats",
    selftest_id=50,
    tags=BOTH,
)
def security_threats(facts: Facts, params: Params) -> Outcome:
    """glibc GHOST (CVE-2015-0235): glibc ≥ 2.18 is not affected; older glibc must carry the
    vendor's fixed package version from :data:`GHOST_FIXED`. Unknown old builds warn."""
    glibc = facts.get(GLIBC) or Glibc(upstream=None)
    upstream, package = glibc.upstream, glibc.package
    os_release = facts.get(OS_RELEASE) or OsRelease()
    distro = f"{os_release.get('ID', '?')} {os_release.version_id}".strip()
    actual = f"{distro}; glibc {upstream or '?'}" + (f" (package {package})" if package else "")
    if upstream is None:
        return Outcome(Status.ERROR, actual, "could not read the glibc version")
    if version_ge(upstream, GHOST_UPSTREAM_FIXED):
        return Outcome(Status.PASS, actual, "not impacted by GHOST (glibc ≥ 2.18)")
    for (d, v), fixed in GHOST_FIXED.items():
        if d == os_release.id and os_release.version_id.split(".")[0] == v.split(".")[0]:
            if package and version_ge(package, fixed):
                return Outcome(Status.PASS, actual, f"vendor fix {fixed} installed")
            return Outcome(Status.WARNING, actual, f"impacted by GHOST: needs glibc {fixed}")
    return Outcome(Status.WARNING, actual, "glibc < 2.18 and no vendor fix on record: check GHOST")


LISA_MIRRORS = [
    "ubuntu:azure.archive.ubuntu.com",
    "ubuntu:ports.ubuntu.com",
    "debian:deb.debian.org",
    "debian:debian-archive.trafficmanager.net",
    "debian:azure.deb.debian.cloud",
]
"""The mirrors LISA's ``verify_repository_installed`` accepts (``ID:host``; one source of an
image with that os-release ID must name one of them): Azure's Ubuntu archive (ports.ubuntu.com
on arm64) and Debian's CDN or its Azure mirrors."""


@check(
    id="repos_configured",
    title="Package repositories with security and updates",
    area="packages",
    severity=Severity.WARNING,
    required="security and updates repositories configured (hosts: {accepted_hosts})",
    facts=[REPOS, OS_RELEASE],
    params={"accepted_hosts": [], "required_mirrors": []},
    profiles={"lisa": {"required_mirrors": LISA_MIRRORS}},
    tags=BOTH,
)
def repos_configured(facts: Facts, params: Params) -> Outcome:
    """Repositories must include the security and updates channels of the distribution (apt:
    ``<codename>-security`` and ``<codename>-updates``; SUSE: Pool and Updates; RHEL ≥ 8:
    BaseOS and AppStream; other RPM distributions: an update repository). ``accepted_hosts``
    (policy; default any host) restricts the mirror host names; ``required_mirrors``
    (``ID:host`` entries; the ``lisa`` profile: LISA's accepted mirrors) asks that one source of
    an image with that os-release ID is on one of them."""
    os_release = facts.get(OS_RELEASE) or OsRelease()
    fam = os_release.family
    files = facts.require(REPOS).files
    accepted = [h.lower() for h in params.texts("accepted_hosts")]
    if not files:
        return Outcome(Status.WARNING, "none", "no package repositories configured")
    evidence = clip(f"{f.path}: {line}" for f in files for line in f.lines)
    hosts: set[str] = set()
    missing: list[str] = []
    if fam == "debian":
        sources = [source for f in files for source in f.apt_sources]
        suites = {s for source in sources for s in source.suites}
        hosts = {source.host for source in sources}
        codename = os_release.version_codename
        for kind in ("security", "updates"):
            ok = any(s.endswith("-" + kind) or s.endswith("/" + kind) for s in suites)
            if not ok and kind == "security":  # Debian ≤ 10: "<codename>/updates" on security host
                ok = any(s == f"{codename}/updates" for s in suites)
            if not ok:
                missing.append(kind)
        actual = f"suites {' '.join(sorted(suites)) or '-'}"
    else:
        names = [r.id for f in files for r in f.repo_sections if r.enabled]
        hosts = {host for f in files for host in f.hosts}
        lowered = " ".join(names).lower()
        if fam == "suse":
            missing = [k for k in ("pool", "update") if k not in lowered]
        elif fam == "rhel" and int(os_release.get("VERSION_ID", "0").split(".")[0] or 0) >= 8:
            missing = [k for k in ("baseos", "appstream") if k not in lowered]
        elif fam == "azurelinux":
            # Azure Linux publishes updates into its base repository
            missing = [] if "base" in lowered else ["base"]
        elif not names:
            missing = ["any enabled repository"]
        actual = f"enabled repos {' '.join(names) or '-'}"
    bad_hosts = sorted(h for h in hosts if accepted and h.lower() not in accepted)
    mirrors = [
        m.partition(":")[2]
        for m in params.texts("required_mirrors")
        if m.partition(":")[0] == os_release.id
    ]
    if mirrors and not any(m in h for m in mirrors for h in hosts):
        missing.append("a source on " + " or ".join(mirrors))
    if missing:
        return Outcome(Status.WARNING, actual, f"missing: {', '.join(missing)}", evidence)
    if bad_hosts:
        return Outcome(
            Status.WARNING,
            actual,
            f"hosts not accepted by policy: {', '.join(bad_hosts)}",
            evidence,
        )
    return Outcome(Status.PASS, actual, "security and updates repositories configured", evidence)
