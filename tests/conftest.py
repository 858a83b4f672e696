"""Shared pytest fixtures. Owners add theirs with small, separate edits."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.platforms.base import Machine


def _build(variant: str) -> Path:
    """Build (or reuse from the cache) a test image; building needs root and network to Debian."""
    from images.recipe import build_test_image

    if os.geteuid() != 0:
        pytest.skip("building the test image needs root (CI runs as root)")
    return build_test_image(variant, progress=lambda line: print(line, file=sys.stderr))


@pytest.fixture(scope="session")
def good_image() -> Path:
    """The cached good Debian 12 test image (fixed VHD); built on first use (~1-2 min)."""
    return _build("good")


@pytest.fixture(scope="session")
def defective_image() -> Path:
    """The cached planted-defect variant (fixed VHD); see images.recipe.VARIANTS["defective"]."""
    return _build("defective")


@pytest.fixture(scope="session")
def good_vm(good_image: Path) -> Iterator[Machine]:
    """The good image booted ONCE with the qemu platform and settled, shared by every read-only
    e2e test (mark them ``e2e``). Do not change the guest's state from a test that uses it."""
    from harness.platforms import DiskFile
    from harness.platforms.qemu import QemuOptions, QemuPlatform

    disk = DiskFile.probe(good_image)
    with QemuPlatform().booted(disk, QemuOptions(boot_timeout=900)) as machine:
        machine.wait_settled()
        yield machine


@pytest.fixture(scope="session")
def gen2_image() -> Path:
    """The good image as a Generation 2 disk (GPT + EFI system partition, boot with OVMF)."""
    return _build("gen2")


@pytest.fixture(scope="session")
def azure_image() -> Path:
    """The good image with cloud-init restricted to the Azure datasource (Azure's own images)."""
    return _build("azure")


@pytest.fixture(scope="session")
def waagent_image() -> Path:
    """The azure image with waagent as its only provisioning agent (cloud-init switched off)."""
    return _build("waagent")


@pytest.fixture(scope="session")
def nocloud_image() -> Path:
    """The good image with cloud-init restricted to NoCloud: never provisions under Azure."""
    return _build("nocloud")


@pytest.fixture(scope="session")
def noeject_image() -> Path:
    """The waagent image without ``eject``: waagent crashes reading the media; no way in."""
    return _build("noeject")


def _strict_skips() -> bool:
    """In CI (``CI=true``) the machine was set up by scripts/install.sh, so a skip means a missing
    piece, and a skipped test must not pass for coverage: it fails instead."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _skip_as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and _strict_skips():
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows no skips: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _skip_as_failure(outcome.get_result())  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _skip_as_failure(outcome.get_result())  # type: ignore[attr-defined]
