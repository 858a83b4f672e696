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
        # LISA's verify_client_active_interval today: 0 < value < 236 (it read 1-180 in 2024)
        "lisa": {"min": 1, "max": 235},
    },
    ms_test_name="Client Alive Interval",
    selftest_id=46,
    tags=BOTH,
)
def ssh_client_alive_interval(facts: Facts, params: Params) -> Outcome:
    """The effective value for a customer's connection (``sshd -T -C user=…,host=…,addr=…``:
    ``Include`` drop-ins and matching ``Match`` blocks applied, the first value wins) must be within
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
    required="ssh/sshd service (or its socket) enabled at boot and listening on TCP 22",
    facts=[SSH_SERVICE],
    tags=BOTH,
)
def ssh_enabled(facts: Facts, params: Params) -> Outcome:
    """The SSH server starts at boot and runs, as systemd reports it: the ``ssh``/``sshd`` service
    enabled and active (or something listening on port 22), or, socket-activated (Ubuntu ≥ 22.10:
    ``ssh.socket`` enabled, the service itself ``disabled``), the socket enabled and listening.
    A masked unit is never enabled. No answer from systemd is an ERROR, never a failure."""
    service = facts.require(SSH_SERVICE)
    units = [u for u in service.units if u.enabled or u.active not in ("", "inactive")]
    on22 = any(re.search(r":22$", addr.strip()) for addr in service.listening)
    enabled_states = ("enabled", "alias", "static", "indirect", "enabled-runtime")
    services = [u for u in units if u.unit.endswith(".service")]
    sockets = [u for u in units if u.unit.endswith(".socket")]
    enabled = [u.unit for u in services if u.enabled in enabled_states]
    active = [u.unit for u in services if u.active == "active"]
    # a socket activates its service: systemd refuses to start a socket whose service is masked
    masked = {u.unit.removesuffix(".service") for u in service.units if u.enabled == "masked"}
    socket_on = [
        u.unit
        for u in sockets
        if u.enabled in enabled_states and u.unit.removesuffix(".socket") not in masked
    ]
    socket_listening = [u.unit for u in sockets if u.active == "active"]
    shown = units or list(service.units)
    actual = "; ".join(f"{u.unit} {u.enabled or '-'}/{u.active or '-'}" for u in shown) + (
        "; listening on 22" if on22 else "; nothing on 22"
    )
    if service.systemd_error:
        # under load systemctl can time out; unknown unit states are no evidence against the image
        return Outcome(
            Status.ERROR,
            "unit states unknown" + ("; listening on 22" if on22 else "; nothing on 22"),
            f"systemd did not answer: {service.systemd_error}",
        )
    if enabled and (active or on22):
        return Outcome(Status.PASS, actual, "SSH server enabled and running")
    if socket_on and (socket_listening or on22):
        return Outcome(
            Status.PASS, actual, f"SSH server socket-activated ({socket_on[0]} enabled, listening)"
        )
    if not (enabled or socket_on) and on22:
        return Outcome(Status.FAIL, actual, "sshd runs now but is not enabled at boot")
    return Outcome(Status.FAIL, actual, "no enabled and running SSH server")
