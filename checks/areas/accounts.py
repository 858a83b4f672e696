"""Accounts area: bash history, default credentials, sudoers."""

from __future__ import annotations

import re

from checks.common import BOTH, clip, footprint_users
from checks.facts.accounts import FACT as ACCOUNTS
from checks.facts.bash_history import FACT as BASH_HISTORY
from checks.facts.harness_footprint import FACT as HARNESS_FOOTPRINT
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
    of an account whose shell ends in ``sh``; every history when the accounts are unknown).

    The harness's own login is recognised by its uid (the probe runs for it) and by its files,
    never by a name: a file is the harness's only when that uid owns it, it lies in that uid's
    home and it was written during this boot. An image's file whose orphaned uid the harness's
    new user happened to get keeps counting."""
    limit = params.integer("max_bytes")
    found = facts.require(BASH_HISTORY)
    files = list(found.files)
    if params.text("histories") == "shell-users" and found.accounts:
        homes = [a.home.rstrip("/") + "/" for a in found.accounts if a.uses_shell and a.home]
        files = [f for f in files if any(f.path.startswith(home) for home in homes)]
    else:
        files = [f for f in files if f.bash]
    footprint = facts.get(HARNESS_FOOTPRINT)
    this_boot = footprint is None or not footprint.login_is_deploy_user
    harness_home = found.home_of(found.login_uid) if found.login_uid is not None else None
    harness_files = [
        f
        for f in files
        if harness_home not in (None, "", "/")
        and f.uid == found.login_uid
        and f.path.startswith(str(harness_home).rstrip("/") + "/")
        and (
            not this_boot
            or (found.btime is not None and f.mtime is not None and f.mtime >= found.btime)
        )
    ]
    if found.legacy:  # an older probe's text: only the owners' names say whose a file is
        names = footprint_users(facts)
        harness_files = [
            f for f in files if f.owner in names or any(f"/home/{u}/" in f.path for u in names)
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
    """Fail on any /etc/shadow entry with a usable password hash and on any key in any file
    sshd would read (``AuthorizedKeysFile`` for every home directory on the disk) except root's
    "Please login as" stub (LISA rule). The harness's own login is identified by the uid the
    probe ran for: its shadow entry, and key files it owns in its home written during this boot,
    are excluded and named; a key file is never excluded for its owner's name alone."""
    accounts = facts.require(ACCOUNTS)
    login = accounts.login
    footprint = facts.get(HARNESS_FOOTPRINT)
    # the harness's own user: only what it wrote this boot; an existing host's deploy user: its
    # files (--platform ssh, the login user is the deploy user)
    this_boot = footprint is None or not footprint.login_is_deploy_user
    if login.uid is not None:
        ignored = {login.user} if login.user else set()
    else:  # an older probe without the login section: the footprint's names
        ignored = footprint_users(facts)
    problems: list[str] = []
    for entry in accounts.shadow:
        if entry.state in _USABLE and entry.user not in ignored:
            problems.append(f"{entry.user}: password hash set")
    for key in accounts.authorized_keys:
        if key.kind == "stub":
            continue
        if login.uid is not None and accounts.harness_key_file(key.path, this_boot=this_boot):
            continue
        if login.uid is None and key.owner in ignored:
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


_DEFAULTS = re.compile(r"^\s*(Defaults(?:[:>@!]\S*)?)\s+(.*)$")
"""A Defaults line: its scope (``Defaults``, ``Defaults:alice`` …) and its options."""


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
    """`Defaults targetpw` must not be in effect in what sudo reads: /etc/sudoers and the files
    its ``@include``/``@includedir`` directives (or their ``#`` forms) pull in, in order; a file
    in sudoers.d that sudo skips (no includedir, or a name with ``.`` or ending in ``~``) does
    not count. A later ``Defaults !targetpw`` of the same scope (``Defaults``, ``Defaults:user``
    …) overrides an earlier ``targetpw``, as sudo applies Defaults in order."""
    state: dict[str, tuple[bool, str]] = {}
    for line in facts.require(SUDOERS).lines:
        m = _DEFAULTS.match(line.text)
        if m is None:
            continue
        options = re.split(r"[\s,]+", m.group(2).split("#", 1)[0].strip())
        for option in options:
            if option in ("targetpw", "!targetpw"):
                state[m.group(1)] = (option == "targetpw", line.line)
    hits = [where for on, where in state.values() if on]
    if hits:
        return Outcome(Status.FAIL, hits[0], "Defaults targetpw is enabled", clip(hits))
    return Outcome(Status.PASS, "not set", "Defaults targetpw is not enabled")
