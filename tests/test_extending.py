"""docs/extending.md's worked examples, imported and run: a fact with its check, a reporter and a
platform, each one file, in-process and as a real plugin (entry points on ``sys.path``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checks.fact import FACTS, Facts
from checks.model import Status
from checks.plan import CheckPlan
from checks.registry import CHECKS
from harness.collect import collect
from harness.platforms.base import PLATFORMS
from harness.runner import CertifyOptions, Selection, certify
from harness.ssh import SshSession
from images.registry import Registry
from reports.base import REPORTERS
from tests.golden.sample import sample_run
from tests.test_ssh_session import Sshd, sshd  # noqa: F401  (the session-scoped sshd fixture)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "docs" / "examples"
DOC = REPO / "docs" / "extending.md"

if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

_REGISTRIES: list[Registry[Any]] = [CHECKS, FACTS, REPORTERS, PLATFORMS]
_BEFORE = [set(registry.names()) for registry in _REGISTRIES]  # built-ins loaded first

from vmcert_example.localhost import LocalhostPlatform  # noqa: E402
from vmcert_example.markdown import MarkdownReporter, cell  # noqa: E402
from vmcert_example.time_sync import TIME_SYNC, time_sync_service  # noqa: E402

# Importing the examples registered them process-wide; the suite's other modules (collected in the
# same process) must not see an extra check, so they are registered only while this module runs.
_EXAMPLE_PLUGINS = [
    {name: registry.remove(name) for name in set(registry.registered()) - before}
    for registry, before in zip(_REGISTRIES, _BEFORE, strict=True)
]


@pytest.fixture(autouse=True, scope="module")
def example_plugins_registered() -> Iterator[None]:
    for registry, plugins in zip(_REGISTRIES, _EXAMPLE_PLUGINS, strict=True):
        for name, plugin in plugins.items():
            registry.add(name, plugin)
    yield
    for registry, plugins in zip(_REGISTRIES, _EXAMPLE_PLUGINS, strict=True):
        for name in plugins:
            registry.remove(name)


CHRONY = """chrony.service enabled=enabled active=active
systemd-timesyncd.service enabled=masked active=inactive
"""
NOTHING = "ntp.service enabled=disabled active=inactive\n"


def test_the_doc_shows_the_example_files_as_they_are() -> None:
    """Every ``<!-- example: PATH -->`` block in extending.md is that file, byte for byte."""
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", text, re.DOTALL)
    shown = {path for path, _ in blocks}
    assert {
        "docs/examples/vmcert_example/time_sync.py",
        "docs/examples/vmcert_example/time_sync.sh",
        "docs/examples/vmcert_example/markdown.py",
        "docs/examples/vmcert_example/localhost.py",
    } <= shown
    for path, body in blocks:
        assert (REPO / path).read_text(encoding="utf-8") == body, f"{path} differs from the doc"


def _judge(text: str) -> tuple[Status, str]:
    facts = Facts.from_texts({"time_sync": text}, source="recorded", known=[TIME_SYNC])
    [result] = CheckPlan([time_sync_service]).evaluate(facts)
    return result.status, result.actual


def test_example_check_on_recorded_output() -> None:
    assert _judge(CHRONY) == (Status.PASS, "chrony.service")
    assert _judge(NOTHING) == (Status.WARNING, "none enabled")
    assert _judge("") == (Status.WARNING, "none enabled")  # no systemd: nothing listed
    hostile = "chrony.service enabled=enabled\x1b[31m|<b> active=active\n" * 3
    assert _judge(hostile)[0] is Status.WARNING  # a garbled state is not "enabled"


def test_example_fact_collected_from_a_real_host(sshd: Sshd) -> None:  # noqa: F811
    with SshSession.connect("127.0.0.1", sshd.port, "root", key_path=sshd.key_path) as session:
        collection = collect(session, [TIME_SYNC])
    assert collection.mode == "batch" and not collection.facts.errors
    state = collection.facts.require(TIME_SYNC)
    [result] = CheckPlan([time_sync_service]).evaluate(collection.facts)
    assert result.status is (Status.PASS if state.enabled else Status.WARNING)


def test_example_reporter_renders_and_escapes() -> None:
    run = sample_run()
    text = MarkdownReporter().render(run)
    assert text.startswith(f"# vmcert certify: {run.verdict}\n")
    for image in run.images:
        assert f"{image.verdict}\n" in text
        for result in image.results:
            assert f"| {cell(result.check_id)} |" in text
    assert cell("a|b <script>`x`") == "a\\|b \\<script\\>\\`x\\`"
    assert "\n" not in cell("line one\nline two\x1b[31m")


@pytest.fixture
def localhost_needs_root() -> None:
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
        pytest.skip("the localhost example starts sshd as root")


def _sshd_processes(work_prefix: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if work_prefix in line and "sshd" in line]


def test_example_platform_certifies_this_machine_and_cleans_up(
    localhost_needs_root: None, tmp_path: Path
) -> None:
    checks = Selection(offline=[], online=[CHECKS.get("os_arch_64bit"), time_sync_service])
    options = CertifyOptions(platform="localhost", retries=0, run_dir=tmp_path / "run")
    run, _ = certify([None], options, platform=LocalhostPlatform(), checks=checks)
    [image] = run.images
    assert image.infra_error is None, image.infra_attempts
    statuses = {r.check_id: r.status for r in image.online_results}
    assert statuses["os_arch_64bit"] is Status.PASS
    assert statuses["time_sync_service"] in (Status.PASS, Status.WARNING)
    assert image.path == "this machine (localhost)"
    assert not list((tmp_path / "run").rglob("vmcert-localhost-*"))  # keys and config removed
    assert not _sshd_processes("vmcert-localhost-")


@pytest.fixture
def plugin_path(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The example package installed the way pip would: a dist-info with its entry points."""
    dist = tmp_path / "vmcert_example-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vmcert-example\nVersion: 0.1.0\n")
    project = (EXAMPLES / "pyproject.toml").read_text()
    sections = re.findall(r'\[project\.entry-points\."([^"]+)"\]\n((?:[^\[\n].*\n)+)', project)
    entries = "".join(f"[{group}]\n{body}\n" for group, body in sections)
    (dist / "entry_points.txt").write_text(entries.replace('"', ""))
    yield {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(EXAMPLES), str(REPO)])}


def _vmcert(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=300,
        check=False,
    )


def test_examples_as_a_real_plugin(
    localhost_needs_root: None, plugin_path: dict[str, str], tmp_path: Path
) -> None:
    listed = _vmcert("checks", "--json", env=plugin_path)
    assert listed.returncode == 0, listed.stderr
    assert "time_sync_service" in {row["id"] for row in json.loads(listed.stdout)}
    config = tmp_path / "vmcert.toml"  # a plugin platform's options come from its config table
    config.write_text('[platform.localhost]\nsshd = "/nonexistent/sshd"\n')
    refused = _vmcert("check", "--platform", "localhost", "--config", str(config), env=plugin_path)
    assert refused.returncode == 2, refused.stderr
    assert "/nonexistent/sshd does not exist" in refused.stderr
    config.write_text('[platform.localhost]\nsshd = "/usr/sbin/sshd"\nsshd-timeout = 20\n')
    checked = _vmcert(
        "check", "--platform", "localhost", "--config", str(config),
        "--checks", "time_sync_service,os_arch_64bit", "--json", env=plugin_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    results = {r["id"]: r["status"] for r in json.loads(checked.stdout)["results"]}
    assert results["os_arch_64bit"] == "pass" and results["time_sync_service"] in (
        "pass",
        "warning",
    )
