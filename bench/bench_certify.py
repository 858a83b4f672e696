"""Benchmark of ``vmcert certify``: wall time per phase for one certification, and two images
with ``--jobs 2`` versus one after the other.

Builds (or reuses) the good and defective test images, runs the real CLI, and prints figures and
ratios. Under TCG on a 2-core machine the ``--jobs 2`` speed-up is bounded by the cores: two
emulated guests compete for the same two host CPUs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _certify(images: list[Path], run_dir: Path, jobs: int) -> tuple[float, dict[str, object]]:
    command = [
        sys.executable, "-m", "harness.cli", "certify", *map(str, images),
        "--run-dir", str(run_dir), "--jobs", str(jobs), "--report", "json",
    ]  # fmt: skip
    env = {**os.environ, "CI": "1"}
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.monotonic() - started
    if proc.returncode not in (0, 1):
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"certify exited {proc.returncode}")
    report: dict[str, object] = json.loads((run_dir / "report.json").read_text())
    return wall, report


def main() -> int:
    """Print per-phase times and the --jobs 2 ratio."""
    from images.recipe import build_test_image

    good = build_test_image("good")
    defective = build_test_image("defective")
    with tempfile.TemporaryDirectory(prefix="vmcert-bench-") as tmp:
        base = Path(tmp)
        wall, report = _certify([good], base / "one", 1)
        images = report["images"]
        assert isinstance(images, list)
        print(f"one certification ({good.name}): {wall:.1f} s wall")
        for phase, seconds in images[0]["timings"].items():
            print(f"  {phase:10s} {seconds:8.2f} s")

        seq, _ = _certify([good, defective], base / "seq", 1)
        par, _ = _certify([good, defective], base / "par", 2)
        print(f"two images one after the other (--jobs 1): {seq:.1f} s")
        print(f"two images at once (--jobs 2, capped to {os.cpu_count()} cores): {par:.1f} s")
        print(f"speed-up --jobs 2 vs sequential: {seq / par:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
