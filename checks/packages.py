"""Packages area: OpenSSL, Python, glibc GHOST, package repositories."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from checks.common import BOTH, clip, family, first_version, key_values, os_info, version_ge
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.probes import sections
from checks.registry import check


@check(
    id="openssl_version",
    title="OpenSSL version",
    area="packages",
    severity=Severity.FAIL,
    required="OpenSSL ≥ {min_version}",
    facts=["openssl"],
    params={"min_version": "0.9.8"},
    ms_test_name="OpenSSL Version",
    selftest_id=44,
    tags=BOTH,
)
def openssl_version(facts: Facts, params: Params) -> Outcome:
    """``openssl version`` must report at least ``min_version`` (tool: 0.9.8; S8/S10 ask 1.0)."""
    text = str(facts["openssl"]).strip()
    version = first_version(text) if "OpenSSL" in text or "LibreSSL" in text else None
    if version is None:
        return Outcome(Status.FAIL, text[:80] or "absent", "OpenSSL is not installed")
    minimum = str(params["min_version"])
    if version_ge(version, minimum):
        return Outcome(Status.PASS, version, text.splitlines()[0])
    return Outcome(Status.FAIL, version, f"OpenSSL {version} older than {minimum}")


@check(
    id="python_version",
    title="Python version",
    area="packages",
    severity=Severity.WARNING,
    required="Python ≥ {min_version}",
    facts=["python"],
    params={"min_version": "2.6"},
    ms_test_name="Python Version",
    selftest_id=45,
    tags=BOTH,
)
def python_version(facts: Facts, params: Params) -> Outcome:
    """Python 2.6 or later is "highly recommended" (the agent needs it): a warning otherwise."""
    text = str(facts["python"]).strip()
    m = re.search(r"Python (\d+(?:\.\d+)+)", text)
    if not m:
        return Outcome(Status.WARNING, "absent", "no Python interpreter found")
    version, minimum = m.group(1), str(params["min_version"])
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
    facts=["glibc", "os_release"],
    ms_test_name="Security threats",
    selftest_id=50,
    tags=BOTH,
)
def security_threats(facts: Facts, params: Params) -> Outcome:
    """glibc GHOST (CVE-2015-0235): glibc ≥ 2.18 is not affected; older glibc must carry the
    vendor's fixed package version from :data:`GHOST_FIXED`. Unknown old builds warn."""
    text = str(facts.get("glibc", ""))
    kv = key_values(text)
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", text.split("package=")[0])
    upstream = m.group(1) if m else None
    package = kv.get("package")
    info = os_info(facts)
    distro = f"{info.get('ID', '?')} {info.get('VERSION_ID', '')}".strip()
    actual = f"{distro}; glibc {upstream or '?'}" + (f" (package {package})" if package else "")
    if upstream is None:
        return Outcome(Status.ERROR, actual, "could not read the glibc version")
    if version_ge(upstream, GHOST_UPSTREAM_FIXED):
        return Outcome(Status.PASS, actual, "not impacted by GHOST (glibc ≥ 2.18)")
    for (d, v), fixed in GHOST_FIXED.items():
        if d == info.get("ID") and info.get("VERSION_ID", "").split(".")[0] == v.split(".")[0]:
            if package and version_ge(package, fixed):
                return Outcome(Status.PASS, actual, f"vendor fix {fixed} installed")
            return Outcome(Status.WARNING, actual, f"impacted by GHOST: needs glibc {fixed}")
    return Outcome(Status.WARNING, actual, "glibc < 2.18 and no vendor fix on record: check GHOST")


def _debian_entries(body: str) -> list[tuple[str, list[str]]]:
    """(uri, suites) from one-line ``deb`` entries and deb822 ``.sources`` stanzas."""
    entries: list[tuple[str, list[str]]] = []
    uris: list[str] = []
    suites: list[str] = []
    for line in body.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "deb":
            rest = [w for w in words[1:] if not w.startswith("[")]
            # strip an options block like [arch=amd64 signed-by=...]
            if "[" in line:
                rest = line.split("]", 1)[1].split()
            if len(rest) >= 2:
                entries.append((rest[0], [rest[1]]))
        elif words[0].lower() == "uris:":
            uris = words[1:]
        elif words[0].lower() == "suites:":
            suites = words[1:]
            entries.extend((u, suites) for u in uris)
    return entries


@check(
    id="repos_configured",
    title="Package repositories with security and updates",
    area="packages",
    severity=Severity.WARNING,
    required="security and updates repositories configured (hosts: {accepted_hosts})",
    facts=["repos", "os_release"],
    params={"accepted_hosts": []},
    tags=BOTH,
)
def repos_configured(facts: Facts, params: Params) -> Outcome:
    """Repositories must include the security and updates channels of the distribution (apt:
    ``<codename>-security`` and ``<codename>-updates``; SUSE: Pool and Updates; RHEL ≥ 8:
    BaseOS and AppStream; other RPM distributions: an update repository). ``accepted_hosts``
    (policy; default any host) restricts the mirror host names."""
    fam = family(facts)
    files = sections(str(facts["repos"]))
    accepted = [str(h).lower() for h in params["accepted_hosts"]]
    if not files:
        return Outcome(Status.WARNING, "none", "no package repositories configured")
    evidence = clip(f"{p}: {line}" for p, b in files.items() for line in b.splitlines())
    hosts: set[str] = set()
    missing: list[str] = []
    if fam == "debian":
        entries = [e for body in files.values() for e in _debian_entries(body)]
        suites = {s for _, ss in entries for s in ss}
        hosts = {urlparse(u).hostname or u for u, _ in entries}
        codename = os_info(facts).get("VERSION_CODENAME", "")
        for kind in ("security", "updates"):
            ok = any(s.endswith("-" + kind) or s.endswith("/" + kind) for s in suites)
            if not ok and kind == "security":  # Debian ≤ 10: "<codename>/updates" on security host
                ok = any(s == f"{codename}/updates" for s in suites)
            if not ok:
                missing.append(kind)
        actual = f"suites {' '.join(sorted(suites)) or '-'}"
    else:
        names: list[str] = []
        for body in files.values():
            enabled_block = True
            current = ""
            for line in body.splitlines():
                line = line.strip()
                if line.startswith("["):
                    if current and enabled_block:
                        names.append(current)
                    current, enabled_block = line.strip("[]"), True
                elif line.replace(" ", "").lower().startswith("enabled=0"):
                    enabled_block = False
                elif "=" in line and line.split("=", 1)[0].strip() in (
                    "baseurl",
                    "mirrorlist",
                    "metalink",
                ):
                    host = urlparse(line.split("=", 1)[1].strip()).hostname
                    if host:
                        hosts.add(host)
            if current and enabled_block:
                names.append(current)
        lowered = " ".join(names).lower()
        if fam == "suse":
            missing = [k for k in ("pool", "update") if k not in lowered]
        elif fam == "rhel" and int(os_info(facts).get("VERSION_ID", "0").split(".")[0] or 0) >= 8:
            missing = [k for k in ("baseos", "appstream") if k not in lowered]
        elif fam == "azurelinux":
            # Azure Linux publishes updates into its base repository
            missing = [] if "base" in lowered else ["base"]
        elif not names:
            missing = ["any enabled repository"]
        actual = f"enabled repos {' '.join(names) or '-'}"
    bad_hosts = sorted(h for h in hosts if accepted and h.lower() not in accepted)
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
