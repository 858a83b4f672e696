"""The publishing pipeline's errors (all :class:`~harness.errors.VmcertError`, so one line each)."""

from __future__ import annotations

from harness.errors import ConfigError, InfraError, InputError, VmcertError


class OfferFileError(InputError):
    """The offer file cannot be read at all (missing, too large, not UTF-8, not TOML)."""


class SettingsError(ConfigError):
    """The publishing settings (database URL, SMTP relay, windows) are invalid."""


class PublishRefused(VmcertError):
    """An action the rules do not allow now: a second Publish, Go live or Cancel out of turn."""


class UnknownOffer(InputError):
    """No offer with that id was ever published here."""


class StoreError(InfraError):
    """The state database cannot be reached or migrated."""


class DeliveryError(InfraError):
    """A notification could not be delivered (SMTP relay down, refused, bad credentials)."""


class LeadRejected(InfraError):
    """The lead destination refused or lost the test lead; the message is the destination's."""
