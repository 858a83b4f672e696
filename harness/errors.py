"""The project's error types and the exit codes they map to.

Every error a user can cause or meet derives from :class:`VmcertError`; the CLI turns it into one
line on stderr and its exit code, never a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README for CI gating."""

    OK = 0
    """Certified (warnings allowed) / nothing failed."""
    FAILED = 1
    """At least one check failed."""
    USAGE = 2
    """Bad usage or unusable input."""
    INFRA = 3
    """Infrastructure error: could not boot or connect after retries."""
    INTERRUPTED = 130
    """Interrupted by SIGINT/SIGTERM (everything was torn down)."""


class VmcertError(Exception):
    """Base of every error vmcert reports to the user as one line."""

    exit_code: ExitCode = ExitCode.USAGE


class InputError(VmcertError):
    """The input (an image, a config file, an argument) cannot be used.

    The message names the file and says what is wrong and, where possible, how to fix it.
    """

    exit_code = ExitCode.USAGE


class ImageFormatError(InputError):
    """An image file's bytes do not make a usable image (truncated footer, lying table, ...)."""


class ConfigError(InputError):
    """A configuration, policy or waiver file is invalid."""


class InfraError(VmcertError):
    """The infrastructure failed: a VM did not boot, SSH did not connect, a service is down."""

    exit_code = ExitCode.INFRA


class Interrupted(VmcertError):
    """SIGINT or SIGTERM arrived; raised so that ``finally`` blocks tear everything down."""

    exit_code = ExitCode.INTERRUPTED
