"""Accounts area: bash history, default credentials, sudoers."""

from __future__ import annotations

import re

from checks.common import BOTH, clip, footprint_users
from checks.facts.accounts import FACT as ACCOUNTS
from checks.facts.bash_history import FACT as BASH_HISTORY
from checks.facts.sudoers import FACT as SUDOERS
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


@check(
    id="bash_history",
    title="Bash history is cleared",
    area="accounts",
    severity=Severity.FAIL,
    required="every .bash_history ≤ {max_bytes} bytes",
    facts=[BASH_HISTORY],
    params={"max_bytes": 1024, "histories": "bash"},
    profiles={"lisa": {"max_bytes": 0, "histories": "shell-users"}},
    ms_test_name="Bash History",
    selftest_id=48,
    tags=BOTH,
)
def bash_history(facts: Facts, params: Params) -> Outcome:
    """No history file may exceed ``max_bytes`` (S1/S3: 1 KB; LISA: empty). Every home directory
    on the disk is searched: /root, every directory under /home (also one no account names any
    more) and every home in /etc/passwd. ``histories``: ``bash`` (the marketplace's "Bash
    History": every ``.bash_history``) or ``shell-users`` (LISA's
    ``verify_bash_history_is_empty`` today: every ``.*sh_history`` and ``.history`` in the home
    of an account whose shell ends in ``sh``).

    The harness's own login is recognised by its uid (the probe runs for it) and by its files,
    never by a name: a file is the harness's only when that uid owns it, it lies in that uid's
    home and it was written during this boot. An image's file whose orphaned uid the harness's
    new user happened to get keeps counting."""
    limit = params.integer("max_bytes")
    found = facts.require(BASH_HISTORY)
    files = list(found.files)
    if params.text("histories") == "shell-users":
        homes = [a.home.rstrip("/") + "/" for a in found.accounts if a.uses_shell and a.home]
        files = [f for f in files if any(f.path.startswith(home) for home in homes)]
    else:
        files = [f for f in files if f.bash]
    harness_home = found.home_of(found.login_uid) if found.login_uid is not None else None
    harness_files = [
        f
        for f in files
        if harness_home not in (None, "", "/")
        and f.uid == found.login_uid
        and f.path.startswith(str(harness_home).rstrip("/") + "/")
        and found.btime is not None
        and f.mtime is not None
        and f.mtime >= found.btime
    ]
    counted = [f for f in files if f not in harness_files]
    if not counted:
        return Outcome(Status.PASS, "No file Exist", "no shell history in the image")
    too_big = [f for f in counted if f.size > limit]
    evidence = clip(f"{f.size} {f.path}" for f in counted)
    if too_big:
        worst = max(too_big, key=lambda f: (f.size, f.path))
        return Outcome(
            Status.FAIL,
            f"{worst.path}: {worst.size} bytes",
            f"{len(too_big)} history file(s) larger than {limit} bytes",
            evidence,
        )
    largest = max(f.size for f in counted)
    return Outcome(Status.PASS, f"largest {largest} bytes", "history within limit", evidence)


_USABLE = {"hash"}


@check(
    id="no_default_credentials",
    title="No default credentials",
    area="accounts",
    severity=Severity.FAIL,
    required="no account has a password hash or authorized_keys (except the deploy user)",
    facts=[ACCOUNTS],
    tags=BOTH,
)
def no_default_credentials(facts: Facts, params: Params) -> Outcome:
    """Fail on any /etc/shadow entry with a usable password hash and on any non-empty
    authorized_keys except root's "Please login as" stub (LISA rule). The harness's own user
    (its key and cloud-init entry) is excluded and named in the message."""
    ignored = footprint_users(facts)
    accounts = facts.require(ACCOUNTS)
    problems: list[str] = []
    for entry in accounts.shadow:
        if entry.state in _USABLE and entry.user not in ignored:
            problems.append(f"{entry.user}: password hash set")
    for key in accounts.authorized_keys:
        if key.kind == "stub" or key.owner in ignored:
            continue
        problems.append(f"{key.path}: authorized key")
    excluded = f" (harness user(s) excluded: {', '.join(sorted(ignored))})" if ignored else ""
    if problems:
        unique = sorted(set(problems))
        return Outcome(
            Status.FAIL,
            "; ".join(unique[:5]),
            f"{len(unique)} credential(s) shipped in the image{excluded}",
            clip(unique),
        )
    return Outcome(Status.PASS, "none", f"no usable passwords or keys{excluded}")


_TARGETPW = re.compile(r"^\s*Defaults\b[^#]*?(?<![!\w])targetpw\b")


@check(
    id="sudoers_no_targetpw",
    title="sudo does not ask for the target user's password",
    area="accounts",
    severity=Severity.FAIL,
    required="no uncommented `Defaults targetpw`",
    facts=[SUDOERS],
    tags=BOTH,
)
def sudoers_no_targetpw(facts: Facts, params: Params) -> Outcome:
    """`Defaults targetpw` must not be enabled in /etc/sudoers (or a sudoers.d drop-in);
    `Defaults !targetpw` is fine."""
    hits = [s.line for s in facts.require(SUDOERS).lines if _TARGETPW.search(s.text)]
    if hits:
        return Outcome(Status.FAIL, hits[0], "Defaults targetpw is enabled", clip(hits))
    return Outcome(Status.PASS, "not set", "Defaults targetpw is not enabled")
