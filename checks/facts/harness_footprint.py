"""The ``harness_footprint`` fact: what the harness itself brought to the machine, so that the
checks do not count it against the image (supplied by the caller, not probed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from checks.fact import supplied

NOT_FINAL = {"cloud_init": ("running",), "system": ("starting", "initializing")}
"""States of :attr:`HarnessFootprint.settled` that are not final (the boot was still going)."""


@dataclass(frozen=True)
class HarnessFootprint:
    """The harness's own login user and what the platform added for it."""

    user: str | None = None
    """The account the harness logs in with (its history and keys are not the image's)."""
    added: str = ""
    """What the platform added to the guest (an ephemeral user, key, sudoers entry), in words."""
    users: tuple[str, ...] = ()
    """Other accounts the harness added."""
    settled: Mapping[str, str] = field(default_factory=dict)
    """The states the machine settled in before the checks (cloud-init, systemd)."""
    login_is_deploy_user: bool = False
    """The harness added nothing and logs in as an account of the machine (``--platform ssh``:
    the deploy user, whose own files are not the harness's to judge); from the platform's
    :attr:`harness.platforms.machine.Footprint.login_is_deploy_user`, never from :attr:`added`'s
    words."""

    def unsettled(self, part: str) -> str:
        """Why ``part`` (``cloud_init`` or ``system``) had not settled when the checks ran, as
        the harness's bounded wait saw it (``cloud-init status --wait``, ``systemctl
        is-system-running --wait``): an empty or missing answer, or a state that is not final.
        "" when it had settled, or when the harness recorded no wait (offline, supplied facts)."""
        if not self.settled:
            return ""
        state = self.settled.get(part, "")
        what = {"cloud_init": "cloud-init", "system": "systemd"}.get(part, part)
        if state in ("", "unknown"):
            return f"the harness's wait for {what} got no answer"
        if state in NOT_FINAL.get(part, ()):
            return f"{what} was still {state!r} when the harness's wait ended"
        return ""

    @property
    def accounts(self) -> set[str]:
        """Every account that belongs to the harness."""
        return {u for u in (self.user, *self.users) if u}

    def to_dict(self) -> dict[str, str | list[str] | dict[str, str] | None]:
        """The footprint as reports record it."""
        out: dict[str, str | list[str] | dict[str, str] | None] = {
            "user": self.user,
            "added": self.added,
        }
        if self.users:
            out["users"] = list(self.users)
        if self.login_is_deploy_user:
            out["login_is_deploy_user"] = "yes"
        if self.settled:
            out["settled"] = dict(self.settled)
        return out


FACT = supplied(
    "harness_footprint",
    HarnessFootprint,
    description="the harness's login user and what the platform added to the guest",
)
