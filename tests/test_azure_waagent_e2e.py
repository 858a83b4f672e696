"""End to end under QEMU: the waagent test image, whose only provisioning agent is the Azure
Linux agent (cloud-init switched off), provisions through the emulator and certifies.

waagent reads ``ovf-env.xml`` from the emulated media, creates the user with the run's key,
reports Ready to the WireServer with the goal state's ids and then its VM agent status; the whole
check suite reaches a verdict. Boots run under the shared lock:
``flock /tmp/vmcert-e2e.lock python -m pytest -q THIS_FILE``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_azure_emulator_e2e import assert_provisioned_and_complete, certify_azure

pytestmark = pytest.mark.e2e


def test_waagent_image_provisions_passes_both_checks_and_the_suite(
    waagent_image: Path, tmp_path: Path
) -> None:
    report = certify_azure(waagent_image, tmp_path / "run")
    assert_provisioned_and_complete(report, "waagent", "waagent")
