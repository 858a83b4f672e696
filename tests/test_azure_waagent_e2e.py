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

from tests.test_azure_emulator_e2e import certify_azure, emulator_threads

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def waagent_image() -> Path:
    from tests.conftest import _build

    return _build("waagent")


def test_waagent_image_provisions_passes_both_checks_and_the_suite(
    waagent_image: Path, tmp_path: Path
) -> None:
    from images.recipe import VARIANTS

    report = certify_azure(waagent_image, tmp_path / "run")
    assert report.infra_error is None, report.infra_error
    results = {r.check_id: r for r in report.online_results}
    provisioning = results["azure_provisioning"]
    assert provisioning.status.value == "pass", provisioning.message
    assert "waagent" in provisioning.actual and "provisioning media" in provisioning.actual
    assert "health report: Ready" in provisioning.evidence
    vm_agent = results["azure_vm_agent_ready"]
    assert vm_agent.status.value == "pass", vm_agent.message
    assert report.platform_facts["provision"] == "azure"
    assert not [r.check_id for r in report.online_results if r.status.value == "error"]
    assert set(report.failing_ids) == set(VARIANTS["waagent"].expected_failures), [
        (r.check_id, r.message) for r in report.online_results if r.check_id in report.failing_ids
    ]
    assert emulator_threads() == []
