"""SSH area: ClientAliveInterval and the SSH service."""

from __future__ import annotations

import re

from checks.common import BOTH, section
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


def _main_value(text: str) -> tuple[int | None, list[str]]:
    """ClientAliveInterval from the main sshd_config (first uncommented line wins, as in sshd)
    and the Include lines seen (grep -in output: ``lineno:text``)."""
    value: int | None = None
    includes: list[str] = []
    for line in text.splitlines():
        body = line.split(":", 1)[1] if re.match(r"^\d+:", line) else line
        m = re.match(r"^\s*ClientAliveInterval(?:\s+|\s*=\s*)(\d+)", body, re.IGNORECASE)
        if m and value is None:
            value = int(m.group(1))
        elif re.match(r"^\s*Include\b", body, re.IGNORECASE):
            includes.append(body.strip())
    return value, includes


@check(
    id="ssh_client_alive_interval",
    title="SSH ClientAliveInterval",
    area="ssh",
    severity=Severity.FAIL,
    required="ClientAliveInterval {min}–{max} (recommended {recommended})",
    facts=["sshd"],
    params={
        "min": 30,
        "max": 235,
        "recommended": 180,
        "warn_unless_recommended": False,
        "require_in_main_config": False,
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
    effective_text = section(facts, "sshd", "effective") or ""
    main_text = section(facts, "sshd", "main_config") or ""
    if "sshd_absent" in effective_text:
        return Outcome(Status.SKIPPED, "sshd not installed", "no SSH server (see ssh_enabled)")
    m = re.search(r"^clientaliveinterval (\d+)", effective_text, re.MULTILINE)
    main, includes = _main_value(main_text)
    effective = int(m.group(1)) if m else None
    shown_main = str(main) if main is not None else "not set"
    evidence = f"sshd -T: {effective_text.strip()}\nsshd_config: {main_text.strip() or '-'}"
    if effective is None:
        if main is None:
            return Outcome(Status.ERROR, "", "sshd -T printed no clientaliveinterval", evidence)
        effective = main  # sshd -T could not run (e.g. no host keys yet): the file is all we have
    actual = f"effective {effective}; main sshd_config {shown_main}"
    lo, hi, rec = int(params["min"]), int(params["max"]), int(params["recommended"])
    if not lo <= effective <= hi:
        return Outcome(
            Status.FAIL, actual, f"ClientAliveInterval {effective} outside {lo}–{hi}", evidence
        )
    if params["warn_unless_recommended"] and effective != rec:
        return Outcome(
            Status.WARNING,
            actual,
            f"ClientAliveInterval {effective} is accepted but not {rec}",
            evidence,
            required=f"ClientAliveInterval {rec}",
        )
    if params["require_in_main_config"] and main != effective:
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
    facts=["ssh_service"],
    tags=BOTH,
)
def ssh_enabled(facts: Facts, params: Params) -> Outcome:
    """The SSH server unit (``ssh`` or ``sshd``) is enabled at boot and active, and something
    listens on port 22. (Socket activation counts: ``ssh.socket`` shows as a listener.)"""
    raw = str(facts["ssh_service"])
    units = re.findall(r"^(\S+) enabled=(\S*) active=(\S*)", raw, re.MULTILINE)
    listen = section(facts, "ssh_service", "listen") or ""
    on22 = any(re.search(r":22$", addr.strip()) for addr in listen.splitlines())
    enabled = [u for u, e, _ in units if e in ("enabled", "alias", "static", "indirect")]
    active = [u for u, _, a in units if a == "active"]
    actual = "; ".join(f"{u} {e or '-'}/{a or '-'}" for u, e, a in units) + (
        "; listening on 22" if on22 else "; nothing on 22"
    )
    if enabled and (active or on22):
        return Outcome(Status.PASS, actual, "SSH server enabled and running")
    if not enabled and on22:
        return Outcome(Status.FAIL, actual, "sshd runs now but is not enabled at boot")
    return Outcome(Status.FAIL, actual, "no enabled and running SSH server")
