"""SSH area: ClientAliveInterval and the SSH service."""

from __future__ import annotations

import re

from checks.common import BOTH
from checks.facts.ssh_service import FACT as SSH_SERVICE
from checks.facts.sshd import FACT as SSHD
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


@check(
    id="ssh_client_alive_interval",
    title="SSH ClientAliveInterval",
    area="ssh",
    severity=Severity.FAIL,
    required="ClientAliveInterval {min}–{max} (recommended {recommended})",
    facts=[SSHD],
    params={
        "min": 30,
        "max": 235,
        "recommended": 180,
        "warn_unless_recommended": False,
        "require_in_main_config": False,
    },
    profiles={
        "selftest": {"warn_unless_recommended": True, "require_in_main_config": True},
        "lisa": {"min": 1, "max": 180},
    },
    ms_test_name="Client Alive Interval",
    selftest_id=46,
    tags=BOTH,
)
def ssh_client_alive_interval(facts: Facts, params: Params) -> Outcome:
    """The effective value (``sshd -T``, which follows ``Include`` drop-ins) must be within
    ``min``–``max``; both it and the value in the main ``/etc/ssh/sshd_config`` are reported.
    ``warn_unless_recommended`` warns on any value other than ``recommended`` (self-test).
    ``require_in_main_config`` warns when the main file does not state the effective value
    (the Microsoft probe reads the main file literally, bitwarden #514)."""
    sshd = facts.require(SSHD)
    if sshd.absent:
        return Outcome(Status.SKIPPED, "sshd not installed", "no SSH server (see ssh_enabled)")
    main, includes = sshd.main_client_alive_interval, sshd.includes
    effective = sshd.client_alive_interval
    shown_main = str(main) if main is not None else "not set"
    evidence = (
        f"sshd -T: {sshd.effective_text.strip()}\nsshd_config: {sshd.main_text.strip() or '-'}"
    )
    if effective is None:
        if main is None:
            return Outcome(Status.ERROR, "", "sshd -T printed no clientaliveinterval", evidence)
        effective = main  # sshd -T could not run (e.g. no host keys yet): the file is all we have
    actual = f"effective {effective}; main sshd_config {shown_main}"
    lo, hi = params.integer("min"), params.integer("max")
    rec = params.integer("recommended")
    if not lo <= effective <= hi:
        return Outcome(
            Status.FAIL, actual, f"ClientAliveInterval {effective} outside {lo}–{hi}", evidence
        )
    if params.flag("warn_unless_recommended") and effective != rec:
        return Outcome(
            Status.WARNING,
            actual,
            f"ClientAliveInterval {effective} is accepted but not {rec}",
            evidence,
            required=f"ClientAliveInterval {rec}",
        )
    if params.flag("require_in_main_config") and main != effective:
        where = f" (Include: {'; '.join(includes)})" if includes else ""
        return Outcome(
            Status.WARNING,
            actual,
            f"the main sshd_config does not state {effective}{where}; "
            "a literal reader of the file sees a different value",
            evidence,
        )
    return Outcome(Status.PASS, actual, f"ClientAliveInterval {effective}", evidence)


@check(
    id="ssh_enabled",
    title="SSH server installed and started at boot",
    area="ssh",
    severity=Severity.FAIL,
    required="ssh/sshd unit enabled and active, listening on TCP 22",
    facts=[SSH_SERVICE],
    tags=BOTH,
)
def ssh_enabled(facts: Facts, params: Params) -> Outcome:
    """The SSH server unit (``ssh`` or ``sshd``) is enabled at boot and active, and something
    listens on port 22. (Socket activation counts: ``ssh.socket`` shows as a listener.)"""
    service = facts.require(SSH_SERVICE)
    units = service.units
    on22 = any(re.search(r":22$", addr.strip()) for addr in service.listening)
    enabled = [u.unit for u in units if u.enabled in ("enabled", "alias", "static", "indirect")]
    active = [u.unit for u in units if u.active == "active"]
    actual = "; ".join(f"{u.unit} {u.enabled or '-'}/{u.active or '-'}" for u in units) + (
        "; listening on 22" if on22 else "; nothing on 22"
    )
    if enabled and (active or on22):
        return Outcome(Status.PASS, actual, "SSH server enabled and running")
    if not enabled and on22:
        return Outcome(Status.FAIL, actual, "sshd runs now but is not enabled at boot")
    return Outcome(Status.FAIL, actual, "no enabled and running SSH server")
