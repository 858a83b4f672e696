"""End to end: the good test image passes every applicable check, the defective one fails exactly
its planted defects, and ``vmcert check --platform ssh`` works against the booted VM.

Boots real VMs under QEMU (TCG here): marked e2e. The good VM is the shared, read-only
``good_vm`` session fixture from conftest; the defective one is booted once here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checks.model import Status
from checks.registry import select_checks
from harness.probe_runner import run_checks

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent

# Warnings the good image is allowed to show, each with the reason (documented in
# docs/checks.md). Empty: the good image passes every applicable check outright.
DOCUMENTED_WARNINGS: dict[str, str] = {}
NOT_APPLICABLE: dict[str, str] = {
    "cloud_init_error_status": "LISA judges cloud-init's status only on Azure Linux (skipped here)",
    # judged from what the emulated Azure host saw: a --provision azure boot supplies the fact
    "azure_provisioning": "judged only on a --provision azure boot (tests/test_azure_*)",
    "azure_vm_agent_ready": "judged only on a --provision azure boot (tests/test_azure_*)",
}


@pytest.fixture(scope="module")
def good_machine(good_vm: Any) -> Any:
    """The shared, read-only good VM from conftest."""
    return good_vm


@pytest.fixture(scope="module")
def defective_machine() -> Iterator[Any]:
    from harness.platforms import DiskFile, get_platform
    from images.recipe import build_test_image

    with get_platform("qemu").booted(DiskFile.probe(build_test_image("defective"))) as machine:
        yield machine


def _summary(run: Any) -> str:
    return "\n".join(
        f"{r.status.value:8} {r.check_id}: {r.actual[:80]} | {r.message[:160]}" for r in run.results
    )


def _run_checks(machine: Any) -> Any:
    """The online checks over a session of the settled ``machine``."""
    machine.wait_settled()
    with machine.session() as session:
        # probe limits stretched like every other timeout of a TCG guest, as the runner does
        return run_checks(session, select_checks(tag="online"), timeout_scale=machine.timeout_scale)


def test_good_image_passes_every_applicable_check(good_machine: Any) -> None:
    run = _run_checks(good_machine)
    assert run.batch_mode == "batch", run.fallback_reason
    assert run.execs == 1
    assert not run.probe_errors, run.probe_errors
    bad = {
        r.check_id: r.status
        for r in run.results
        if r.status is not Status.PASS
        and not (r.status is Status.WARNING and r.check_id in DOCUMENTED_WARNINGS)
        and not (r.status is Status.SKIPPED and r.check_id in NOT_APPLICABLE)
    }
    assert bad == {}, _summary(run)
    assert run.footprint["user"] == good_machine.user
    # the disk checks judged the running system
    by_id = {r.check_id: r for r in run.results}
    assert by_id["no_swap_on_os_disk"].actual == "No. of Swap Partitions: 0"


def test_defective_image_fails_exactly_its_planted_defects(defective_machine: Any) -> None:
    from images.recipe import VARIANTS

    expected = set(VARIANTS["defective"].expected_failures)
    assert len(expected) >= 8
    run = _run_checks(defective_machine)
    assert run.batch_mode == "batch", run.fallback_reason
    failed = {r.check_id for r in run.results if r.status in (Status.FAIL, Status.ERROR)}
    assert failed == expected, _summary(run)
    others = {
        r.check_id: r.status
        for r in run.results
        if r.check_id not in expected
        and r.status is not Status.PASS
        and r.check_id not in DOCUMENTED_WARNINGS
        and not (r.status is Status.SKIPPED and r.check_id in NOT_APPLICABLE)
    }
    assert others == {}, _summary(run)


def test_vmcert_check_cli_against_the_booted_vm(good_machine: Any) -> None:
    args = [
        sys.executable, "-m", "harness.cli", "check", "--platform", "ssh",
        "--host", good_machine.host, "--port", str(good_machine.port),
        "--user", good_machine.user, "--key", str(good_machine.key_path),
    ]  # fmt: skip
    proc = subprocess.run(
        [*args, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    data = json.loads(proc.stdout)
    assert not data["failed"] and data["run"]["batch_mode"] == "batch"
    table = subprocess.run(
        [*args, "--checks", "ssh"], capture_output=True, text=True, cwd=REPO, timeout=600,
        check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert table.returncode == 0 and "ssh_client_alive_interval" in table.stdout
