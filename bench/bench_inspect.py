"""Benchmark of offline inspection and the sparse digest (``nox -s bench -- inspect``).

Builds, in a temporary directory under /tmp (deleted at the end), a sparse fixed VHD of 30 GiB
with about 1 GiB of data spread over its root partition, then prints:

* seconds for the inspect verdict (format, footer, partition table, file-system signatures and
  the offline checks; no extent scan) against the 0.3 s target, and for a full inspect including
  the data-extent scan;
* the sparse digest's throughput in GB/s of data, next to ``sha256sum`` of the whole file, and the
  ratio of their wall and CPU times from the same run (CPU figures stay meaningful when the machine
  is busy);
* :func:`images.candidate.load_candidate` (inspection, extents and digest with one pass over the
  data) against the separate calls it replaces (``inspect_image`` + ``sparse_digest``, two passes),
  with the bytes each read (``rchar`` of ``/proc/self/io``) and the ratio from the same run.

Then, on the sample image (the cached good test image, ``vmcert images build``), in one run:

* ``vmcert inspect --content IMAGE`` in a fresh process (imports included; median of 3), against
  its targets: the offline verdict in under 2 s, and at most 1/20 of the certify time;
* ``vmcert certify IMAGE`` (one boot under the machine's accelerator, TCG here; taken under
  ``/tmp/vmcert-e2e.lock`` so it does not share the CPUs with another VM), and the ratio of the
  two. ``--no-certify`` leaves the boot out; the content part is skipped when the image is not
  built.

Figures are warm-cache (the image was just written); the page cache is not dropped, because that
would disturb everything else running on the machine.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.cli.inspect import run_offline_checks
from images.candidate import load_candidate
from images.extents import CHUNK, sparse_digest
from images.inspect import inspect_image
from images.recipe import cached_image_path
from images.vhd import build_footer

MiB = 1024 * 1024
GiB = 1024 * MiB
TARGET_SECONDS = 0.3
CONTENT_TARGET_SECONDS = 2.0
CONTENT_TARGET_RATIO = 20
E2E_LOCK = "/tmp/vmcert-e2e.lock"


def build(workdir: Path, size: int, data: int) -> Path:
    """A sparse fixed VHD of ``size`` bytes with ``data`` bytes of non-zero chunks."""
    path = workdir / "bench.vhd"
    with open(path, "wb") as handle:
        handle.truncate(size)
    layout = (
        "label: gpt\n"
        "start=2048, size=204800, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp\n"
        "start=206848, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n"
    )
    subprocess.run(
        ["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(path)],
        input=layout,
        text=True,
        check=True,
    )
    fs = workdir / "root.fs"
    with open(fs, "wb") as handle:
        handle.truncate(64 * MiB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(fs)], check=True)
    root_start = 206848 * 512
    block = bytearray(os.urandom(CHUNK))
    chunks = data // CHUNK
    base = -(-(root_start + 128 * MiB) // CHUNK) * CHUNK  # data chunk-aligned, as most writes are
    stride = ((size - base - MiB) // chunks) // CHUNK * CHUNK
    with open(path, "r+b") as handle:
        handle.seek(root_start)
        handle.write(fs.read_bytes())
        for i in range(chunks):
            block[:8] = i.to_bytes(8, "big")  # every chunk different
            handle.seek(base + i * stride)
            handle.write(block)
        handle.seek(size)
        handle.write(build_footer(size))
        handle.flush()
        os.fsync(handle.fileno())
    fs.unlink()
    return path


def timed(fn: object, repeat: int) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def read_bytes() -> int:
    """Bytes this process has read through read(2)-family calls so far (0 without /proc)."""
    try:
        lines = Path("/proc/self/io").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith("rchar:")), 0)


def _vmcert(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds and result of ``vmcert ARGS`` in a fresh interpreter."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, check=False
    )
    return time.perf_counter() - start, proc


def content_vs_certify(image: Path, certify: bool, keep: Path | None = None) -> None:
    """``inspect --content`` next to ``certify`` on the same image (see the module docstring)."""
    times = []
    for _ in range(3):
        seconds, proc = _vmcert("inspect", "--content", "--json", str(image))
        if proc.returncode not in (0, 1):
            print(f"inspect --content failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
            return
        times.append(seconds)
    document = json.loads(proc.stdout)
    content_s = statistics.median(times)
    read_s = document["content"]["offline_read_seconds"]
    verdict = document["summary"]["verdict"]
    judged = [r for r in document["results"] if "not_judged" not in r]
    status = "OK" if content_s < CONTENT_TARGET_SECONDS else "OVER TARGET"
    print(
        f"inspect --content (fresh process, median of 3): {content_s:.2f} s "
        f"(target < {CONTENT_TARGET_SECONDS:.0f} s: {status}); {len(judged)} checks judged, "
        f"{len(document['results']) - len(judged)} not judged; files read in "
        f"{read_s:.2f} s; verdict {verdict}"
    )
    if not certify:
        print("certify: left out (--no-certify)")
        return
    with (
        tempfile.TemporaryDirectory(prefix="vmcert-bench-content-") as run_dir,
        open(E2E_LOCK, "a") as lock,
    ):
        fcntl.flock(lock, fcntl.LOCK_EX)  # one VM at a time on this machine
        target = keep if keep is not None else Path(run_dir) / "run"
        certify_s, proc = _vmcert(
            "certify", "--run-dir", str(target), "--report", "json:-", str(image)
        )
    if proc.returncode not in (0, 1):
        print(f"certify failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
        return
    verdict = json.loads(proc.stdout)["verdict"]
    ratio = certify_s / content_s
    status = "OK" if ratio >= CONTENT_TARGET_RATIO else "UNDER TARGET"
    print(
        f"certify (boot + checks, fresh process): {certify_s:.1f} s, verdict {verdict}; "
        f"ratio certify / inspect --content = {ratio:.0f}x "
        f"(target >= {CONTENT_TARGET_RATIO}x: {status})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=int, default=30)
    parser.add_argument("--data-mib", type=int, default=1024)
    parser.add_argument("--no-certify", action="store_true", help="leave the boot out")
    parser.add_argument(
        "--content-only", action="store_true", help="only inspect --content vs certify"
    )
    parser.add_argument("--keep-run", type=Path, help="keep certify's run directory here")
    args = parser.parse_args()
    sample = cached_image_path("good")
    if sample.is_file():
        print(f"sample image: {sample} ({os.path.getsize(sample) / MiB:.0f} MiB)")
        content_vs_certify(sample, not args.no_certify, args.keep_run)
    else:
        print(f"sample image not built ({sample}): run `vmcert images build` for the content part")
    if args.content_only:
        return 0
    size, data = args.size_gib * GiB, args.data_mib * MiB
    workdir = Path(tempfile.mkdtemp(prefix="vmcert-bench-inspect-", dir="/tmp"))
    try:
        started = time.perf_counter()
        path = build(workdir, size, data)
        print(
            f"image: {args.size_gib} GiB sparse fixed VHD, {args.data_mib} MiB of data "
            f"(built in {time.perf_counter() - started:.1f} s; warm page cache)"
        )

        def verdict() -> object:
            return run_offline_checks(inspect_image(path, extents=False))

        verdict_s, results = timed(verdict, 7)
        failed = [r.check_id for r in results if r.failed]  # type: ignore[attr-defined]
        status = "OK" if verdict_s < TARGET_SECONDS else "OVER TARGET"
        print(
            f"inspect verdict (format + partitions + checks): {verdict_s:.4f} s "
            f"(target < {TARGET_SECONDS} s: {status}; {TARGET_SECONDS / verdict_s:.0f}x headroom)"
            f"; failed checks: {failed or 'none'}"
        )
        full_s, inspection = timed(lambda: inspect_image(path), 3)
        data_bytes = inspection.data_bytes or 0  # type: ignore[attr-defined]
        print(
            f"inspect with data-extent scan: {full_s:.3f} s "
            f"({data_bytes / 1e9:.3f} GB of data found, {data_bytes / full_s / 1e9:.2f} GB/s)"
        )
        cpu_start = time.process_time()
        digest_s, digest = timed(lambda: sparse_digest(path), 3)
        digest_cpu = (time.process_time() - cpu_start) / 3
        digest_rate = data_bytes / digest_s / 1e9
        print(
            f"sparse digest: {digest_s:.3f} s wall, {digest_cpu:.3f} s CPU; "
            f"{digest_rate:.2f} GB/s of data wall, {data_bytes / digest_cpu / 1e9:.2f} GB/s CPU "
            f"({digest})"
        )

        def separate() -> object:
            inspect_image(path)
            return sparse_digest(path)

        mark = read_bytes()
        separate_s, _ = timed(separate, 3)
        separate_read = (read_bytes() - mark) / 3
        mark = read_bytes()
        candidate_s, candidate = timed(lambda: load_candidate(path), 3)
        candidate_read = (read_bytes() - mark) / 3
        same = candidate.sparse_digest == digest  # type: ignore[attr-defined]
        print(
            f"candidate (inspect + extents + digest, one pass): {candidate_s:.3f} s, "
            f"{candidate_read / 1e9:.3f} GB read; separate inspect_image + sparse_digest: "
            f"{separate_s:.3f} s, {separate_read / 1e9:.3f} GB read; ratio (same run) "
            f"{separate_s / candidate_s:.2f}x time, {separate_read / max(candidate_read, 1):.2f}x "
            f"bytes; same digest: {same}"
        )
        if shutil.which("sha256sum"):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
            whole_s = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            whole_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            file_bytes = os.path.getsize(path)
            print(
                f"sha256sum of the whole file: {whole_s:.3f} s wall, {whole_cpu:.3f} s CPU; "
                f"{file_bytes / whole_s / 1e9:.2f} GB/s of file wall, "
                f"{file_bytes / whole_cpu / 1e9:.2f} GB/s CPU"
            )
            print(
                f"ratio (same run): sparse digest takes {whole_s / digest_s:.1f}x less wall time "
                f"and {whole_cpu / digest_cpu:.1f}x less CPU time than sha256sum of the whole file"
            )
        else:
            print("sha256sum not found: no comparison")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
