"""End to end: for every cached test image variant, the verdict of each check judged from the
image's files equals the verdict judged on the booted image.

One boot per variant (good, defective, gen2) under QEMU; the online facts are collected over one
session exactly as ``certify`` collects them, the offline facts with
:func:`checks.offline.read_image_facts`, and every check is evaluated with each source alone
(both with the image's layout inspection). Checks whose facts need a running system are not
judged offline and are left out; everything else must agree. Boots VMs: marked e2e, run under
``flock /tmp/vmcert-e2e.lock``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checks.fact import FACTS, Facts, load_builtin_facts
from checks.facts.bootloader_config import BootloaderConfig
from checks.facts.harness_footprint import FACT as HARNESS_FOOTPRINT
from checks.model import Result, Status
from checks.offline import read_image_facts
from checks.plan import CheckPlan
from checks.registry import select_checks
from harness.collect import collect
from harness.runner import offline_facts
from images.inspect import inspect_image

pytestmark = pytest.mark.e2e

VARIANTS = ("good", "defective", "gen2")

SAME_TEXT = (
    "os_release",
    "sudoers",
    "modprobe_blacklist",
    "waagent_conf",
    "repos",
    "bootloader_config",
    "glibc",
    "python",
    "openssl",
    "agent_version",
    "initramfs_modules",
    "cmdline",
)
"""Facts whose offline text must equal what the probe printed on the booted image, byte for
byte (the others differ by design: the clock, host keys generated at first boot, device names,
the harness's own account)."""


@dataclass(frozen=True)
class Both:
    """One variant's facts from both sources."""

    variant: str
    image: Path
    online: Facts
    offline: Facts
    unavailable: dict[str, str]


def _boot_and_collect(variant: str, machine: Any, image: Path) -> Both:
    from harness.runner import _footprint

    load_builtin_facts()
    probed = [f for f in FACTS if f.probed]
    states = machine.wait_settled()
    with machine.session() as session:
        # probe limits stretch with the machine's slow-down (TCG), as the runner's do
        online = collect(session, probed, timeout_scale=machine.timeout_scale).facts
    footprint = _footprint(machine, states.as_dict())
    layout = offline_facts(inspect_image(image, extents=False))
    files = read_image_facts(image, probed)
    return Both(
        variant,
        image,
        layout.merged(online).with_value(HARNESS_FOOTPRINT, footprint, "harness"),
        layout.merged(files.facts),
        dict(files.unavailable),
    )


@pytest.fixture(scope="module", params=VARIANTS)
def both(request: pytest.FixtureRequest) -> Iterator[Both]:
    """One boot per variant (the good one is the session's shared ``good_vm``)."""
    from harness.platforms import DiskFile
    from harness.platforms.qemu import QemuOptions, QemuPlatform

    variant = str(request.param)
    image: Path = request.getfixturevalue(f"{variant}_image")
    if variant == "good":
        yield _boot_and_collect(variant, request.getfixturevalue("good_vm"), image)
        return
    options = QemuOptions(boot_timeout=900)
    with QemuPlatform().booted(DiskFile.probe(image), options) as machine:
        yield _boot_and_collect(variant, machine, image)


def _results(facts: Facts, unavailable: dict[str, str] | None = None) -> dict[str, Result]:
    plan = CheckPlan(select_checks())
    return {r.check_id: r for r in plan.evaluate(facts, unavailable=unavailable)}


def test_offline_verdicts_equal_online_verdicts(both: Both) -> None:
    online = _results(both.online)
    offline = _results(both.offline, both.unavailable)
    judged_by_both = [
        cid
        for cid, r in offline.items()
        if not r.not_judged and online[cid].status is not Status.SKIPPED
    ]
    assert len(judged_by_both) >= 28, judged_by_both
    mismatches = {
        cid: f"offline {offline[cid].status} ({offline[cid].message[:120]}) vs online "
        f"{online[cid].status} ({online[cid].message[:120]})"
        for cid in judged_by_both
        if offline[cid].status != online[cid].status
    }
    assert mismatches == {}, f"{both.variant}: {mismatches}"
    not_judged = {cid for cid, r in offline.items() if r.not_judged}
    needs_runtime = {  # a probe with no offline reader, or a fact only a booted run supplies
        c.id
        for c in select_checks()
        if any(
            (f.probed and f.offline is None) or (not f.probed and f.offline_note) for f in c.facts
        )
    }
    assert not_judged <= needs_runtime
    assert not_judged >= {"boot_log_clean", "serial_console_enabled", "ssh_enabled", "network_dhcp"}
    assert not any(r.status is Status.ERROR for r in offline.values()), both.variant


def test_defective_failures_are_found_offline(both: Both) -> None:
    from images.recipe import VARIANTS as RECIPES

    offline = _results(both.offline, both.unavailable)
    failed = {cid for cid, r in offline.items() if r.failed}
    assert failed == set(RECIPES[both.variant].expected_failures)


def _comparable(name: str, text: str | None) -> str | None:
    """``bootloader_config`` without what only one source can give: its last section says which
    loader started the boot (EFI variables online, the image's default entry offline), and a
    ``### pN:`` section is an EFI partition the running guest has not mounted."""
    if name != "bootloader_config" or text is None:
        return text
    kept: list[str] = []
    skip = False
    for line in text.splitlines(keepends=True):
        if line.startswith("### "):
            skip = line.startswith("### @boot") or re.match(r"### p\d+:", line) is not None
        if not skip:
            kept.append(line)
    return "".join(kept)


def test_offline_texts_equal_the_probes_output(both: Both) -> None:
    differ = {
        name: (both.offline.raw.get(name), both.online.raw.get(name))
        for name in SAME_TEXT
        if _comparable(name, both.offline.raw.get(name))
        != _comparable(name, both.online.raw.get(name))
    }
    assert differ == {}, f"{both.variant}: {differ}"
    # what those sections decide agrees: the loader that starts the image
    offline_loader = both.offline.get(FACTS.get("bootloader_config"))
    online_loader = both.online.get(FACTS.get("bootloader_config"))
    assert isinstance(offline_loader, BootloaderConfig)
    assert isinstance(online_loader, BootloaderConfig)
    expected = both.variant == "gen2"
    assert offline_loader.systemd_boot is expected
    assert online_loader.systemd_boot is expected  # LoaderInfo / a BIOS boot
    for name in ("uname",):
        off, on = both.offline.get(FACTS.get(name)), both.online.get(FACTS.get(name))
        assert off is not None and on is not None
        assert (off.machine, off.release, off.version) == (on.machine, on.release, on.version)
