"""The emulator's errors, placed in the harness's hierarchy so the exit-code table knows them."""

from __future__ import annotations

from harness.errors import InfraError, InputError


class EmulatorError(InfraError):
    """The emulator could not start a service or build the provisioning media."""


class IdentityError(InputError):
    """A value for the provisioned identity (user name, host name, key, MAC) cannot be used."""
