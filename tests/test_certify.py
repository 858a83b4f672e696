"""The certify run without a VM: infrastructure retries, unusable input, run directory, exit codes.

The platform here is a real Platform subclass whose boot fails the way QEMU's does when the guest
never answers (an InfraError), so the retry and reporting paths run for real.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
import xmlschema

from harness.errors import ExitCode, InfraError
from harness.platforms import BootContext, Machine, Platform, PlatformOptions
from harness.runner import CertifyOptions, Selection, certify, effective_jobs, exit_code
from reports.base import ReportSpec
from reports.json_report import load_schema

JUNIT_XSD = Path(__file__).parent / "schemas" / "junit-consumer.xsd"


class NeverBoots(Platform):
    """A platform whose guest never answers SSH (registered, so the CLI can name it)."""

    name = "test-never-boots"
    options_type = PlatformOptions
    boots = 0

    def boot(self, candidate: Any, options: PlatformOptions, context: BootContext) -> Machine:
        type(self).boots += 1
        name = candidate.path.name
        raise InfraError(f"{name}: SSH did not answer within 1 s (attempt {self.boots})")


NO_CHECKS = Selection(offline=[], online=[])
"""Orchestration under test, not the checks: run none."""


@pytest.fixture
def vhd(tmp_path: Path) -> Path:
    path = tmp_path / "blank.vhd"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(path), "16M"],
        check=True,
    )
    return path


@pytest.fixture
def no_vm() -> type[NeverBoots]:
    NeverBoots.boots = 0
    return NeverBoots


def test_infra_failure_is_retried_then_reported(
    vhd: Path, tmp_path: Path, no_vm: type[NeverBoots]
) -> None:
    run_dir = tmp_path / "run"
    options = CertifyOptions(retries=2, run_dir=run_dir)
    run, directory = certify([vhd], options, platform=NeverBoots(), checks=NO_CHECKS)
    assert directory == run_dir
    assert no_vm.boots == 3
    image = run.images[0]
    assert image.verdict == "infra_error" and exit_code(run) is ExitCode.INFRA
    assert [a.attempt for a in image.infra_attempts] == [1, 2, 3]
    assert image.format == "vhd-fixed" and image.virtual_size is not None
    assert image.sparse_digest
    document = json.loads((run_dir / "report.json").read_text())
    jsonschema.validate(document, load_schema())
    assert document["images"][0]["verdict"] == "infra_error"
    assert len(document["images"][0]["infra"]["attempts"]) == 3
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(run_dir / "junit.xml"))
    assert (run_dir / "report.html").is_file()
    image_dir = Path(image.artifacts["run_dir"])
    timings = json.loads((image_dir / "run.json").read_text())
    assert "inspect" in timings["timings"] and timings["verdict"] == "infra_error"
    assert json.loads((image_dir / "report.json").read_text())["images"][0]["image"]["path"] == str(
        vhd
    )


def test_unusable_image_is_not_booted(tmp_path: Path, no_vm: type[NeverBoots]) -> None:
    garbage = tmp_path / "garbage.img"
    garbage.write_bytes(b"\x01" * 4096)
    options = CertifyOptions(
        run_dir=tmp_path / "run",
        reports=[ReportSpec("json", str(tmp_path / "out.json"))],
    )
    run, _ = certify([garbage], options, platform=NeverBoots(), checks=NO_CHECKS)
    assert no_vm.boots == 0
    assert run.images[0].input_error and "not a disk image" in run.images[0].input_error
    assert run.images[0].verdict == "failed" and exit_code(run) is ExitCode.USAGE
    assert json.loads((tmp_path / "out.json").read_text())["images"][0]["verdict"] == "failed"
    assert not (tmp_path / "run" / "junit.xml").exists()  # only the requested report


def test_run_dir_must_be_empty(vhd: Path, tmp_path: Path, no_vm: type[NeverBoots]) -> None:
    from harness.errors import InputError

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("x")
    with pytest.raises(InputError, match="not an empty directory"):
        certify([vhd], CertifyOptions(run_dir=tmp_path / "run"), platform=NeverBoots())


def test_effective_jobs_caps() -> None:
    assert effective_jobs(8, 1) == 1
    assert effective_jobs(1, 5) == 1
    assert effective_jobs(64, 64, vm_memory_mb=1) <= (__import__("os").cpu_count() or 1)
    assert effective_jobs(4, 4, vm_memory_mb=10**9) == 1  # 1 PiB VMs: memory allows one


def _certify_once(vhd: Path, tmp_path: Path, *options: str) -> list[str]:
    """``vmcert certify`` argv: no retries, a fresh run dir, ``options``, then the image."""
    run_dir = str(tmp_path / "r")
    return [
        "certify", "--platform", NeverBoots.name, "--retries", "0", "--run-dir", run_dir,
        *options, str(vhd),
    ]  # fmt: skip


def test_cli_exit_codes(vhd: Path, tmp_path: Path, no_vm: type[NeverBoots]) -> None:
    from harness.cli import main

    with pytest.raises(SystemExit) as exc:
        # an offline check the blank disk passes: the verdict is the boot's infrastructure error
        report = ["--checks", "vhd_format", "--report", f"selftest:{tmp_path / 's.json'}"]
        main(_certify_once(vhd, tmp_path, *report))
    assert exc.value.code == ExitCode.INFRA
    assert (tmp_path / "s.json").is_file()
    with pytest.raises(SystemExit) as exc:
        main(["certify", "--report", "pdf:x.pdf", str(vhd)])
    assert exc.value.code == ExitCode.USAGE


def test_probe_outputs_are_sanitized_and_capped(tmp_path: Path) -> None:
    from harness.runner import write_probe_outputs

    hostile = b"\x00\x1b[31m\xff" + b"B" * 10_000_000
    write_probe_outputs(tmp_path, {"dmesg": hostile, "../evil name": "x"})
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [".._evil_name.txt", "dmesg.txt"]
    text = (tmp_path / "dmesg.txt").read_text(encoding="utf-8")
    assert len(text) < 1_100_000 and text.startswith("\\x00\\xff") and "characters cut" in text


def test_a_platform_bug_is_recorded_not_retried(
    vhd: Path, tmp_path: Path, no_vm: type[NeverBoots]
) -> None:
    class Buggy(Platform):
        name = "test-buggy"
        options_type = PlatformOptions
        boots = 0

        def boot(self, candidate: Any, options: PlatformOptions, context: BootContext) -> Machine:
            Buggy.boots += 1
            raise KeyError("oops")

    options = CertifyOptions(retries=3, run_dir=tmp_path / "run")
    run, _ = certify([vhd], options, platform=Buggy(), checks=NO_CHECKS)
    image = run.images[0]
    assert Buggy.boots == 1 and exit_code(run) is ExitCode.INFRA
    assert image.infra_error and "internal error: KeyError" in image.infra_error
    assert "Traceback" in Path(image.artifacts["internal_error"]).read_text()
    assert (tmp_path / "run" / "report.json").is_file()


def test_machine_that_drops_ssh_is_torn_down_each_attempt(
    vhd: Path, tmp_path: Path, no_vm: type[NeverBoots]
) -> None:
    """Boot returns a real Machine whose SSH port is closed (a guest that died after boot)."""
    import socket

    torn_down: list[int] = []

    class DiesAfterBoot(Platform):
        name = "test-dies-after-boot"
        options_type = PlatformOptions

        def boot(self, candidate: Any, options: PlatformOptions, context: BootContext) -> Machine:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            assert context.run_dir is not None
            log = context.run_dir / "serial.log"
            log.write_bytes(b"boot ok\x1b[0m\n\x00kernel panic\n")
            return Machine(
                host="127.0.0.1",
                port=port,
                user="nobody",
                serial_log=log,
                _teardown=lambda: torn_down.append(port),
            )

    options = CertifyOptions(retries=1, run_dir=tmp_path / "run")
    run, _ = certify([vhd], options, platform=DiesAfterBoot(), checks=NO_CHECKS)
    image = run.images[0]
    assert len(torn_down) == 2 and exit_code(run) is ExitCode.INFRA
    assert [a.phase for a in image.infra_attempts] == ["settle", "settle"]
    assert "kernel panic" in image.serial_log and "\x00" not in image.serial_log
    assert Path(image.artifacts["serial_log"]).name == "serial-attempt2.log"


def test_cli_checks_and_skip_take_comma_lists(
    vhd: Path, tmp_path: Path, no_vm: type[NeverBoots]
) -> None:
    """``--checks a,b --checks c`` means three selectors, as for ``vmcert check``."""
    from harness.cli import main

    selection = ["--checks", "ssh_enabled, kernel", "--checks", "disk"]
    with pytest.raises(SystemExit):
        main(_certify_once(vhd, tmp_path, *selection, "--skip", "boot_log_clean,repos_configured"))
    chosen = json.loads((tmp_path / "r" / "report.json").read_text())["selection"]
    assert chosen["include"] == ["ssh_enabled", "kernel", "disk"]
    assert chosen["skip"] == ["boot_log_clean", "repos_configured"]
    assert "ssh_enabled" in chosen["checks"] and "boot_log_clean" not in chosen["checks"]


class RecordsKeep(NeverBoots):
    """Records whether the platform was told the machine may be kept."""

    name = "test-records-keep"
    seen: ClassVar[list[bool]] = []

    def boot(self, candidate: Any, options: PlatformOptions, context: BootContext) -> Machine:
        self.seen.append(context.keep)
        return super().boot(candidate, options, context)


@pytest.mark.parametrize(
    ("keep", "kept"), [("never", False), ("on-failure", True), ("always", True)]
)
def test_keep_reaches_the_platform(vhd: Path, tmp_path: Path, keep: str, kept: bool) -> None:
    """``certify --keep`` boots a machine that can outlive vmcert (no PDEATHSIG, the Azure
    emulator's keeper): the platform must be told before it boots, not only at teardown."""
    RecordsKeep.seen = []
    options = CertifyOptions(retries=0, run_dir=tmp_path / "run", keep=keep)
    certify([vhd], options, platform=RecordsKeep(), checks=NO_CHECKS)
    assert RecordsKeep.seen == [kept]
