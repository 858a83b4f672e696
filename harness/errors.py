"""The harness's error types and the one table that maps every vmcert error to an exit code.

The pure packages (``images``, ``checks``, ``reports``) own their errors and know nothing of exit
codes; the harness's own errors derive from :class:`VmcertError`. The CLI turns any error that
:func:`exit_code_for` knows into one line on stderr and its exit code, never a traceback.
"""

from __future__ import annotations

from enum import IntEnum

from checks.errors import CheckError
from images.errors import ImageBuildError, ImageError
from images.registry import UnknownPluginError
from reports.errors import ReportError


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


class InputError(VmcertError):
    """The input (an image, a config file, an argument) cannot be used.

    The message names the file and says what is wrong and, where possible, how to fix it.
    """


class ConfigError(InputError):
    """A configuration, policy or waiver file is invalid."""


class InfraError(VmcertError):
    """The infrastructure failed: a VM did not boot, SSH did not connect, a service is down."""


class Interrupted(VmcertError):
    """SIGINT or SIGTERM arrived; raised so that ``finally`` blocks tear everything down."""


EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (Interrupted, ExitCode.INTERRUPTED),
    (InfraError, ExitCode.INFRA),
    (InputError, ExitCode.USAGE),
    (VmcertError, ExitCode.USAGE),
    (ImageBuildError, ExitCode.INFRA),
    (ImageError, ExitCode.USAGE),
    (CheckError, ExitCode.USAGE),
    (ReportError, ExitCode.USAGE),
    (UnknownPluginError, ExitCode.USAGE),
)
"""Every error vmcert reports as one line, most specific first, with its exit code."""

USER_ERRORS: tuple[type[BaseException], ...] = tuple(kind for kind, _ in EXIT_CODES)
"""The error types a command reports as one line (``except USER_ERRORS``)."""


def exit_code_for(error: BaseException) -> ExitCode | None:
    """The exit code of a vmcert error (``None`` for anything else, which is a bug)."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return None
