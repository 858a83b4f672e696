"""Benchmark: the check phase on a booted good test image, batched versus one exec per check.

Boots the cached good image under QEMU (TCG here), waits until cloud-init and systemd settle, then
times, over one SSH connection:

* **batched**: every probe the online checks need, in ONE generated script and ONE exec
  (``harness.collect.collect``), then evaluation (``checks.plan.CheckPlan``);
* **per check** (the way testinfra-style suites run): for each check, one plain exec per fact it
  reads (the probe text itself, fed to ``sudo -n sh -s`` when it needs root; no batch wrapper),
  nothing shared between checks.

Prints the median of ``--runs`` rounds of each and the ratio (target: batched ≥ 5× faster and
under 2 s). ``VMCERT_BENCH_HOST=host:port:user:key`` measures an already running host instead.

Then (``--phase``, the default on the sample image) it times the **whole check phase the user
waits for** in a real ``certify`` of the image: from the end of ``settle`` to the verdicts
(collection over the session settle already opened, parsing, evaluation), as the run's own report
records it in ``timings.checks``, next to the probe batch inside it (``check_run.probe_wall_time``)
— one run, one ratio (target: at most 1.5×).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from checks.fact import FACTS, Facts, load_builtin_facts
from checks.plan import CheckPlan
from checks.registry import select_checks
from harness.collect import collect
from harness.probe_runner import run_probes


def per_check(session: Any, checks: list[Any], family: str) -> tuple[float, int]:
    """testinfra-style: every check runs its own commands, one plain exec each (like
    ``host.run``: the probe text, under sudo when it needs root), nothing cached or shared between
    checks and no batch wrapper around any of them."""
    started = time.monotonic()
    execs = 0
    for check in checks:
        texts: dict[str, str] = {}
        for probe in (f for f in check.facts if f.probed):
            # the text on stdin (``sudo -n sh -s``), as the batch does: ``sudo sh -c TEXT``
            # would log every probe text to the journal that boot_journal then reads
            result = session.run_script(
                probe.script_for(family), sudo=probe.needs_root, timeout=probe.timeout
            )
            execs += 1
            if result.exit_status == 0:
                texts[probe.name] = result.stdout_text
        check.run(Facts.from_texts(texts))
    return time.monotonic() - started, execs


SLOWEST: dict[str, float] = {}
FAMILY = ["unknown"]  # the guest's distribution family, as the batch detected it


def batched(session: Any, checks: list[Any], parallel: bool = True) -> tuple[float, int]:
    """All probes in one exec, then every evaluation."""
    started = time.monotonic()
    plan = CheckPlan(checks)
    if parallel:
        collection = collect(session, plan.facts_needed())
        plan.evaluate(collection.facts)
        mode, reason, execs, family = (
            collection.mode,
            collection.fallback_reason,
            collection.execs,
            collection.family,
        )
    else:  # the executor's sequential mode, to see which probes are slow
        run = run_probes(session, [f for f in plan.facts_needed() if f.probed], parallel=False)
        SLOWEST.update(run.timings)
        plan.evaluate(Facts.from_texts(run.facts(), errors=run.errors()))
        mode, reason, execs, family = run.mode, run.fallback_reason, run.execs, run.family
    FAMILY[0] = family
    if mode != "batch":
        raise SystemExit(f"batch fell back: {reason}")
    return time.monotonic() - started, execs


def measure(session: Any, runs: int) -> None:
    checks = select_checks(tag="online")
    load_builtin_facts()
    probes = [f for f in CheckPlan(checks).facts_needed() if f.probed]
    print(f"{len(checks)} online checks, {len(probes)} probes (of {len(FACTS)} facts)")
    batched(session, checks)  # warm caches on the guest (page cache, sudo timestamp)
    b_times, s_times, p_times = [], [], []
    b_execs = p_execs = 0
    for _ in range(runs):  # interleaved, so host drift hits all alike
        t, b_execs = batched(session, checks)
        b_times.append(t)
        t, _ = batched(session, checks, parallel=False)
        s_times.append(t)
        t, p_execs = per_check(session, checks, FAMILY[0])
        p_times.append(t)
    b, p = statistics.median(b_times), statistics.median(p_times)
    s = statistics.median(s_times)
    top = sorted(SLOWEST.items(), key=lambda kv: -kv[1])[:4]
    print("slowest probes (sequential, guest-side): " + ", ".join(f"{n} {t:.2f} s" for n, t in top))
    print(
        f"batched, probes one after another: {s:6.2f} s median   "
        f"runs {[round(x, 2) for x in s_times]}"
    )
    print(f"batched   : {b:6.2f} s median ({b_execs} exec)   runs {[round(x, 2) for x in b_times]}")
    print(f"per check : {p:6.2f} s median ({p_execs} execs) runs {[round(x, 2) for x in p_times]}")
    print(f"ratio     : {p / b:5.1f}x faster batched (target ≥ 5x); batched under 2 s: {b < 2.0}")


def whole_phase(image: Path) -> None:
    """One real ``certify`` of ``image``: the check phase against the probe batch inside it."""
    import tempfile

    from harness.runner import CertifyOptions, certify
    from reports.base import ReportSpec

    with tempfile.TemporaryDirectory(prefix="vmcert-bench-") as scratch:
        report = Path(scratch) / "report.json"
        options = CertifyOptions(
            run_dir=Path(scratch) / "run", reports=[ReportSpec("json", str(report))]
        )
        run, _ = certify([image], options)
    [result] = run.images
    if result.infra_error:
        raise SystemExit(f"certify did not reach the checks: {result.infra_error}")
    phase = result.timings["checks"]
    batch = float(str(result.check_run["probe_wall_time"]))
    print(
        f"certify {image.name}: settle {result.timings['settle']:.2f} s, "
        f"check phase {phase:.2f} s (end of settle → verdicts), probe batch {batch:.2f} s"
    )
    print(f"ratio     : check phase / probe batch = {phase / batch:.2f} (target ≤ 1.5)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only",
        choices=["batch", "phase"],
        default=None,
        help="batch: batched against per check; phase: the whole phase in certify (default both)",
    )
    args = parser.parse_args()
    target = os.environ.get("VMCERT_BENCH_HOST")
    if target:
        from harness.ssh import SshSession

        host, port, user, key = target.split(":", 3)
        with SshSession.connect(host, int(port), user, key_path=key) as session:
            measure(session, args.runs)
        return 0
    from harness.platforms import DiskFile, get_platform
    from images.recipe import build_test_image

    image = build_test_image("good")
    if args.only in (None, "batch"):
        started = time.monotonic()
        with get_platform("qemu").booted(DiskFile.probe(image)) as machine:
            states = machine.wait_settled()
            print(
                f"booted and settled in {time.monotonic() - started:.1f} s "
                f"({machine.facts.get('accel')}; {states})"
            )
            with machine.session() as session:
                measure(session, args.runs)
    if args.only in (None, "phase"):
        whole_phase(image)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
