"""Sessions: tests, lint, bench, demo.

They run in the environment that ``scripts/install.sh`` prepared (system packages such as QEMU are
needed anyway, so a per-session virtualenv would buy nothing but a second install).
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "tests"]

PACKAGES = ["harness", "checks", "images", "reports"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, end-to-end boots included (`-- -m "not e2e"` for the quick part)."""
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, mypy --strict on the four packages, shellcheck on every
    fact's shell text (as it is sent to the guest, shared helpers included)."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", *PACKAGES, "docs/examples/vmcert_example")
    session.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_probe_texts.py",
        "-k", "shellcheck",
    )  # fmt: skip


@nox.session
def bench(session: nox.Session) -> None:
    """Print the benchmark figures (`-- NAME` runs one of bench/bench_NAME.py)."""
    names = session.posargs or [
        "inspect", "fs", "boot", "checks", "certify", "replicate", "publish", "web",
    ]  # fmt: skip
    for name in names:
        session.run("python", f"bench/bench_{name}.py", success_codes=[0])


@nox.session
def demo(session: nox.Session) -> None:
    """The README's main job: build (or reuse) the Azure-ready sample image (cloud-init on the
    Azure datasource only, waagent for extensions) and certify it, provisioned as Azure does."""
    image = session.run("vmcert", "images", "build", "--variant", "azure", silent=True)
    assert isinstance(image, str)
    path = image.strip().splitlines()[-1]
    session.run("vmcert", "certify", path, *session.posargs)  # provisioned as Azure does


@nox.session
def lisa(session: nox.Session) -> None:
    """LISA parity (docs/checks.md): boot each test image (`-- IMAGE ...`, default the good,
    defective, azure and gen2 ones), run LISA's AzureImageStandard cases on it through LISA's
    `ready` platform and vmcert's checks on the same VM, print a case-by-case agreement table.
    Needs `pip install 'mslisa[azure]'` (or $VMCERT_LISA naming a `lisa` command);
    $VMCERT_LISA_CACHE=DIR reuses LISA's verdicts per image; boots under the shared e2e lock."""
    session.run("flock", "/tmp/vmcert-e2e.lock", "python", "scripts/lisa_parity.py",
                *session.posargs, external=True)  # fmt: skip
