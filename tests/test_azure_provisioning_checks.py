"""The ``provisioning`` area judged from recorded emulator state.

Each state is what the real emulator recorded from the agents' own requests (health reports in
the WireServer's XML, waagent's status upload to the HostGAPlugin), sent over HTTP to a running
:class:`~harness.azure_emulator.server.Emulator`; the harness turns it into the
``azure_provisioning`` fact (:func:`harness.azure_emulator.fact.provisioning_fact`) and the
checks judge it through the same :class:`~checks.plan.CheckPlan` as a run. Also: the fact for a
NoCloud boot and for another platform (not applicable, never a fail), and the runner's NoCloud
fallback note.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from checks.fact import Facts
from checks.facts.agent_version import FACT as AGENT_VERSION
from checks.facts.agent_version import AgentVersion
from checks.facts.azure_provisioning import FACT as AZURE_PROVISIONING
from checks.facts.azure_provisioning import AzureProvisioning
from checks.model import Result, Status
from checks.plan import CheckPlan
from checks.registry import CHECKS
from harness.azure_emulator.fact import NOT_EMULATED, not_applicable, provisioning_fact
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.server import Emulator
from harness.azure_emulator.timeline import Timeline
from harness.errors import ExitCode, InfraError
from harness.platforms import BootContext, Machine, Platform, PlatformOptions
from harness.platforms.base import Fallback, ProvisioningFailed
from harness.platforms.qemu import QemuMachine, QemuOptions, QemuPlatform
from harness.platforms.qemu.provision import FALLBACK_NOTE
from harness.platforms.ssh import SshOptions, SshPlatform
from harness.runner import FAIL_FAST_NOTE, CertifyOptions, Selection, certify, exit_code
from reports.model import ImageReport
from tests.test_azure_emulator import KEY, health_xml
from tests.test_azure_emulator_servers import request

CLOUD_INIT = "Cloud-Init/22.4.2"
WAAGENT = "WALinuxAgent/2.7.3.0"
INSTALLED = AgentVersion("2.7.3.0", "package 2.7.3.0-1")


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(Identity.new(KEY), tmp_path, attach_media=False) as running:
        yield running


def goal_state(emulator: Emulator, agent: str) -> None:
    reply = request(
        emulator.port("wireserver"), "GET", "/machine/?comp=goalstate", User_Agent=agent
    )
    assert reply.startswith(b"HTTP/1.1 200")


def health(emulator: Emulator, agent: str, body: bytes) -> None:
    wire = emulator.port("wireserver")
    request(wire, "POST", "/machine?comp=health", body, User_Agent=agent)


def imds(emulator: Emulator) -> None:
    target = "/metadata/instance?api-version=2021-08-01&extended=true"
    reply = request(emulator.port("imds"), "GET", target, User_Agent=CLOUD_INIT, Metadata="true")
    assert reply.startswith(b"HTTP/1.1 200")


def agent_status(emulator: Emulator, status: str, message: str = "") -> None:
    blob = {
        "aggregateStatus": {
            "guestAgentStatus": {
                "version": "2.7.3.0",
                "status": status,
                "formattedMessage": {"lang": "en-US", "message": message},
            }
        }
    }
    content = base64.b64encode(json.dumps(blob).encode()).decode()
    body = json.dumps({"content": content, "headers": []}).encode()
    request(emulator.port("hostgaplugin"), "PUT", "/status", body, User_Agent=WAAGENT)


def judge(fact: AzureProvisioning, agent: AgentVersion | None = INSTALLED) -> tuple[Result, Result]:
    facts = Facts().with_value(AZURE_PROVISIONING, fact, "harness")
    if agent is not None:
        facts = facts.with_value(AGENT_VERSION, agent, "online")
    checks = [CHECKS.get("azure_provisioning"), CHECKS.get("azure_vm_agent_ready")]
    first, second = CheckPlan(checks).evaluate(facts)
    return first, second


def fact_of(
    emulator: Emulator, *, logged_in: bool = True, scale: float = 1.0, error: str = ""
) -> AzureProvisioning:
    return provisioning_fact(
        emulator.state(),
        user=emulator.identity.username,
        logged_in=logged_in,
        timeout_scale=scale,
        request_log=emulator.request_log_path,
        login_error=error,
    )


def test_cloud_init_ready_from_the_media_and_the_vm_agent_ready_pass(emulator: Emulator) -> None:
    imds(emulator)
    goal_state(emulator, CLOUD_INIT)
    emulator.timeline.media_ejected()  # what QMP's DEVICE_TRAY_MOVED records
    health(emulator, CLOUD_INIT, health_xml(emulator.identity, "Ready"))
    goal_state(emulator, WAAGENT)
    agent_status(emulator, "Ready")
    provisioning, vm_agent = judge(fact_of(emulator))
    assert provisioning.status is Status.PASS, provisioning.message
    assert (
        "cloud-init" in provisioning.actual and "from the provisioning media" in provisioning.actual
    )
    assert "source: provisioning media" in provisioning.evidence
    assert "goal state" in provisioning.evidence and "health report: Ready" in provisioning.evidence
    assert provisioning.sources == {"azure_provisioning": "harness"}
    assert vm_agent.status is Status.PASS and "2.7.3.0" in vm_agent.message


def test_ready_from_imds_alone_says_so(emulator: Emulator) -> None:
    imds(emulator)
    goal_state(emulator, CLOUD_INIT)
    health(emulator, CLOUD_INIT, health_xml(emulator.identity, "Ready"))
    provisioning, _ = judge(fact_of(emulator))
    assert provisioning.status is Status.PASS
    assert "from IMDS: the provisioning media was not seen read" in provisioning.actual
    assert "source: IMDS" in provisioning.evidence


def test_no_request_at_all(emulator: Emulator) -> None:
    provisioning, vm_agent = judge(fact_of(emulator, logged_in=False))
    assert provisioning.status is Status.FAIL and provisioning.actual == "no request"
    assert "never contacted the WireServer or IMDS" in provisioning.message
    assert "datasource" in provisioning.message  # what to look at
    # judged once: the VM agent could not report on a deployment that never provisioned
    assert vm_agent.status is Status.SKIPPED and "azure_provisioning" in vm_agent.message


def test_goal_state_but_no_health_report(emulator: Emulator) -> None:
    goal_state(emulator, WAAGENT)
    provisioning, _ = judge(fact_of(emulator, logged_in=False))
    assert provisioning.status is Status.FAIL and provisioning.actual == "no health report"
    assert "waagent fetched the goal state" in provisioning.message
    assert "never reported health" in provisioning.message


def test_provisioning_failed_quotes_the_agent(emulator: Emulator) -> None:
    goal_state(emulator, CLOUD_INIT)
    body = health_xml(
        emulator.identity, "NotReady", "ProvisioningFailed", "No OVF or IMDS available"
    )
    health(emulator, CLOUD_INIT, body)
    provisioning, _ = judge(fact_of(emulator, logged_in=False))
    assert provisioning.status is Status.FAIL and provisioning.actual == "failed"
    assert "cloud-init reported ProvisioningFailed: No OVF or IMDS available" in (
        provisioning.message
    )


def test_ready_for_another_goal_state_does_not_count(emulator: Emulator) -> None:
    goal_state(emulator, WAAGENT)
    health(emulator, WAAGENT, health_xml(Identity.new(KEY), "Ready"))
    provisioning, _ = judge(fact_of(emulator, logged_in=False))
    assert provisioning.status is Status.FAIL and provisioning.actual == "ids mismatch"
    assert "stale agent state" in provisioning.message


def test_ready_but_user_or_key_not_deployed(emulator: Emulator) -> None:
    goal_state(emulator, CLOUD_INIT)
    health(emulator, CLOUD_INIT, health_xml(emulator.identity, "Ready"))
    denied = "SSH authentication as azureuser@127.0.0.1:2222 failed with key k"
    provisioning, _ = judge(fact_of(emulator, logged_in=False, error=denied))
    assert provisioning.status is Status.FAIL and provisioning.actual.startswith("Ready at")
    assert "user or key not deployed" in provisioning.message and denied in provisioning.message


def test_ready_after_the_scaled_deadline_fails(emulator: Emulator) -> None:
    goal_state(emulator, CLOUD_INIT)
    health(emulator, CLOUD_INIT, health_xml(emulator.identity, "Ready"))
    fact = fact_of(emulator)
    assert fact.ready_at is not None
    late = AzureProvisioning(**{**fact.__dict__, "ready_at": 1300.0})
    provisioning, _ = judge(late)
    assert provisioning.status is Status.FAIL and "after Azure's deadline of 1200 s" in (
        provisioning.message
    )
    # under TCG (x5) the same Ready is within the window
    slow = AzureProvisioning(**{**late.__dict__, "timeout_scale": 5.0})
    assert judge(slow)[0].status is Status.PASS


def test_vm_agent_not_ready_or_silent_fails(emulator: Emulator) -> None:
    goal_state(emulator, CLOUD_INIT)
    health(emulator, CLOUD_INIT, health_xml(emulator.identity, "Ready"))
    silent = judge(fact_of(emulator))[1]
    assert silent.status is Status.FAIL and silent.actual == "no status"
    assert "never uploaded its status" in silent.message
    agent_status(emulator, "NotReady", "Provisioning: ifdown failed")
    not_ready = judge(fact_of(emulator))[1]
    assert not_ready.status is Status.FAIL
    assert not_ready.actual == "NotReady: Provisioning: ifdown failed"
    # without waagent there is no VM agent to judge
    absent = judge(fact_of(emulator), AgentVersion(None, "not installed"))[1]
    assert absent.status is Status.SKIPPED and "not installed" in absent.message


def test_without_agent_version_what_the_host_saw_of_waagent_decides(emulator: Emulator) -> None:
    """Only ``azure_vm_agent_ready`` selected: ``agent_version`` is not probed."""
    goal_state(emulator, CLOUD_INIT)
    health(emulator, CLOUD_INIT, health_xml(emulator.identity, "Ready"))
    unseen = judge(fact_of(emulator), None)[1]
    assert unseen.status is Status.SKIPPED and "made no request (not probed)" in unseen.message
    goal_state(emulator, WAAGENT)
    assert fact_of(emulator).waagent_seen
    seen = judge(fact_of(emulator), None)[1]
    assert seen.status is Status.FAIL and "(version not probed) is installed" in seen.message


def test_not_applicable_boots_are_skipped_with_the_reason() -> None:
    for fact in (not_applicable(NOT_EMULATED), not_applicable("the ssh platform ...")):
        for result in judge(fact):
            assert result.status is Status.SKIPPED
            assert result.message.startswith("not applicable: ") and fact.reason in result.message
    nocloud = QemuMachine(host="127.0.0.1", port=22, user="vmcert").provisioning()
    assert not nocloud.applicable and "--provision nocloud" in nocloud.reason
    other = Machine(host="192.0.2.1", port=22, user="u", facts={"platform": "ssh"}).provisioning()
    assert not other.applicable and "ssh platform" in other.reason


def test_without_the_fact_the_checks_skip_rather_than_fail() -> None:
    """``certify --offline`` and third-party runners: nothing supplied, nothing failed."""
    facts = Facts().with_value(AGENT_VERSION, INSTALLED, "online")
    checks = [CHECKS.get("azure_provisioning"), CHECKS.get("azure_vm_agent_ready")]
    assert [r.status for r in CheckPlan(checks).evaluate(facts)] == [Status.SKIPPED] * 2


def test_fallback_is_named_in_the_failing_verdict(emulator: Emulator) -> None:
    fact = AzureProvisioning(**{**fact_of(emulator, logged_in=False).__dict__})
    noted = AzureProvisioning(**{**fact.__dict__, "fallback": FALLBACK_NOTE})
    provisioning, _ = judge(noted)
    assert provisioning.status is Status.FAIL
    assert FALLBACK_NOTE in provisioning.message and FALLBACK_NOTE in provisioning.evidence
    qemu = QemuPlatform()
    expected = Fallback(QemuOptions(provision="nocloud"), FALLBACK_NOTE)
    assert qemu.fallback(QemuOptions(provision="azure")) == expected
    assert qemu.fallback(QemuOptions(provision="nocloud")) is None
    assert SshPlatform().fallback(SshOptions()) is None  # no other way in: the default


# -- the runner: the provisioning failure is a verdict, then NoCloud or --fail-fast ---------------


class AzureFailsThenNothing(Platform):
    """Boots the way QEMU does with an image whose agent never reports: ``--provision azure``
    ends in :class:`ProvisioningFailed`; the NoCloud re-boot finds no way in either."""

    name = "test-azure-fails"
    options_type = QemuOptions

    def fallback(self, options: PlatformOptions) -> Fallback | None:
        return QemuPlatform().fallback(options)  # NoCloud after Azure, as the qemu platform does

    boots: ClassVar[list[str]] = []

    def boot(self, candidate: Any, options: PlatformOptions, context: BootContext) -> Machine:
        assert isinstance(options, QemuOptions)
        type(self).boots.append(options.provision)
        if options.provision == "azure":
            fact = provisioning_fact(
                Timeline().snapshot(), user="azureuser", logged_in=False, timeout_scale=5.0
            )
            raise ProvisioningFailed("Azure provisioning failed: no request", [], fact)
        raise InfraError("SSH authentication as vmcert@127.0.0.1:1 failed with key k")


@pytest.fixture
def vhd(tmp_path: Path) -> Path:
    path = tmp_path / "blank.vhd"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(path), "16M"],
        check=True,
    )
    return path


def certify_failing(
    vhd: Path, run_dir: Path, *, fail_fast: bool, exit_expected: ExitCode
) -> ImageReport:
    AzureFailsThenNothing.boots = []
    checks = Selection(
        offline=[], online=[CHECKS.get("azure_provisioning"), CHECKS.get("azure_vm_agent_ready")]
    )
    options = CertifyOptions(
        platform_options=QemuOptions(provision="azure"),
        run_dir=run_dir,
        retries=0,
        fail_fast=fail_fast,
    )
    run, _ = certify([vhd], options, platform=AzureFailsThenNothing(), checks=checks)
    assert exit_code(run) is exit_expected
    return run.images[0]


def test_fail_fast_stops_after_the_provisioning_failure(vhd: Path, tmp_path: Path) -> None:
    # the provisioning verdict, never hidden behind an infrastructure error
    image = certify_failing(vhd, tmp_path / "run", fail_fast=True, exit_expected=ExitCode.FAILED)
    assert AzureFailsThenNothing.boots == ["azure"]  # no re-boot
    assert image.verdict == "failed" and image.failing_ids == ["azure_provisioning"]
    assert image.infra_error is None and image.infra_attempts == []  # a verdict, not infra
    result = image.online_results[0]
    assert "never contacted the WireServer" in result.message
    assert FAIL_FAST_NOTE in result.message and image.notes == [FAIL_FAST_NOTE]
    document = json.loads((tmp_path / "run" / "report.json").read_text())
    assert FAIL_FAST_NOTE in json.dumps(document["images"][0]["results"])


def test_no_way_in_is_an_infrastructure_error_that_names_both_failures(
    vhd: Path, tmp_path: Path
) -> None:
    image = certify_failing(vhd, tmp_path / "run", fail_fast=False, exit_expected=ExitCode.INFRA)
    assert AzureFailsThenNothing.boots == ["azure", "nocloud"]
    assert image.no_way_in and image.verdict == "infra_error"
    assert image.failing_ids == ["azure_provisioning"]  # still recorded, with its diagnosis
    assert FALLBACK_NOTE in image.online_results[0].message
    error = image.infra_error or ""
    assert error.startswith("no way in: Azure provisioning failed (Azure provisioning failed: no")
    assert "SSH authentication as vmcert" in error
    assert [a.attempt for a in image.infra_attempts] == [2]  # the NoCloud boot, numbered after
    page = (tmp_path / "run" / "report.html").read_text()
    assert "no way in" in page and "NoCloud re-boot" in page


def test_no_way_in_is_a_failure_when_the_image_files_already_fail_a_check() -> None:
    """What the image's files show is judged without a login: its failure stays the verdict."""

    def result(check_id: str, status: Status) -> Result:
        return Result(check_id, check_id, "disk", status, "a", "r", "m")

    image = ImageReport(
        path="x.vhd",
        no_way_in=True,
        infra_error="no way in: ...",
        offline_results=[result("vhd_size_rules", Status.PASS)],
        online_results=[result("azure_provisioning", Status.FAIL)],
    )
    assert image.verdict == "infra_error"
    image.offline_results.append(result("partition_table_valid", Status.FAIL))
    assert image.verdict == "failed"


def test_every_failing_form_carries_the_fallback_note(emulator: Emulator) -> None:
    """The console report shows only ``actual`` of a failure: the note must be there too."""
    goal_state(emulator, CLOUD_INIT)
    health(emulator, CLOUD_INIT, health_xml(emulator.identity, "Ready"))
    ready = fact_of(emulator, logged_in=False)
    late = AzureProvisioning(**{**ready.__dict__, "ready_at": 9999.0, "logged_in": True})
    silent = AzureProvisioning(**{**ready.__dict__, "ready_at": None, "outcome": "no request"})
    for fact in (ready, late, silent):
        noted = AzureProvisioning(**{**fact.__dict__, "fallback": FALLBACK_NOTE})
        result = judge(noted)[0]
        assert result.status is Status.FAIL
        assert result.actual.endswith(FALLBACK_NOTE) and result.message.endswith(FALLBACK_NOTE)


def test_offline_the_checks_are_not_judged_and_say_why() -> None:
    """``certify --offline`` / ``inspect --content``: an image's files cannot show provisioning."""
    checks = [CHECKS.get("azure_provisioning"), CHECKS.get("azure_vm_agent_ready")]
    for result in CheckPlan(checks).evaluate(Facts(), unavailable={}):
        assert result.status is Status.SKIPPED and "--provision azure boot" in result.not_judged
