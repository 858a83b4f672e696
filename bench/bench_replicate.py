"""Benchmark: sparse page-blob upload and 3-region fan-out of a 30 GiB VHD (~3 GiB data) to Azurite.

Prints:
  * sparse upload (one region): seconds, bytes sent / data bytes (target ≤ 1.02);
  * AzCopy (npm @azure-tools/azcopy-linux) upload of the same image on the same box, and our time
    divided by AzCopy's (target ≤ 0.5);
  * fan-out to three regions through ``replicate_image`` (strategy auto → stream on Azurite):
    seconds (with and without the verification), bytes sent per region / data bytes, and how
    many times the image's data was read for sending (target: once), cross-checked with the
    kernel's block-read counter of this process.

The image is cached in ``$VMCERT_BENCH_DIR`` (default /tmp/vmcert-bench); every run starts a fresh
Azurite and drops the image's pages from the page cache before each phase ("cold").
Environment knobs: BENCH_SIZE_GIB (30), BENCH_DATA_GIB (3), BENCH_THREADS (8), BENCH_SKIP_AZCOPY.
This takes minutes and is not part of the test suite.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from harness.replication import replicate_image
from harness.replication.azurite import Azurite
from harness.replication.blob import blob_client, page_ranges
from harness.replication.config import StorageConfig
from harness.replication.fanout import MAX_PUT, PageTarget, fan_out
from harness.replication.journal import Journal
from images.candidate import load_candidate
from images.extents import chunked
from images.vhd import build_footer

GiB = 1024**3
MiB = 1024**2
ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("VMCERT_BENCH_DIR", "/tmp/vmcert-bench"))
SIZE_GIB = int(os.environ.get("BENCH_SIZE_GIB", "30"))
DATA_GIB = float(os.environ.get("BENCH_DATA_GIB", "3"))
THREADS = int(os.environ.get("BENCH_THREADS", "8"))
REGIONS = ["eastus", "westeurope", "southeastasia"]


def make_image() -> Path:
    """30 GiB + footer: ~3 GiB random data in 24 extents (half unaligned), small writes, zeros."""
    path = BENCH / f"bench{SIZE_GIB}g.vhd"
    if path.exists():
        # An image cached by an older bench has a footer load_candidate refuses: renew it.
        size = path.stat().st_size - 512
        with open(path, "r+b") as fh:
            fh.seek(size)
            fh.write(build_footer(size))
        return path
    BENCH.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    size = SIZE_GIB * GiB
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.truncate(size + 512)
        fh.seek(0)
        fh.write(rng.randbytes(MiB))
        n = 24
        per = int(DATA_GIB * GiB) // n
        for i in range(n):
            offset = (i * size) // n + 64 * MiB
            if i % 2:
                offset += rng.randrange(1, 1000) * 4096  # not 4 MiB aligned
            fh.seek(offset)
            left = per
            while left:
                step = min(left, 64 * MiB)
                fh.write(rng.randbytes(step))
                left -= step
        for _ in range(12):
            fh.seek(rng.randrange(0, size - MiB) // 4096 * 4096)
            fh.write(rng.randbytes(rng.choice([4096, 65536])))
        fh.seek(size // 3 + 7 * MiB)
        fh.write(bytes(256 * MiB))  # allocated zeros: a copy made without --sparse
        fh.seek(size)
        fh.write(build_footer(size))
    os.replace(tmp, path)
    return path


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def block_reads() -> int:
    """Bytes this process caused to be read from storage (/proc/self/io read_bytes)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def azcopy_binary() -> tuple[Path, dict[str, str]] | None:
    """AzCopy from npm with the reference's §5 fixes: exec bit and a private libsecret."""
    found = glob.glob(
        str(ROOT / "node_modules/@azure-tools/azcopy-linux/dist/bin/azcopy_linux_amd64")
    )
    if not found:
        return None
    binary = BENCH / "azcopy"
    if not binary.exists():
        shutil.copy(found[0], binary)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ)
    libdir = BENCH / "libsecret/usr/lib/x86_64-linux-gnu"
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    if "libsecret-1.so.0 => not found" in ldd and not (libdir / "libsecret-1.so.0").exists():
        debs = glob.glob("/var/cache/apt/archives/libsecret-1-0_*.deb") or glob.glob(
            str(BENCH / "libsecret-1-0_*.deb")
        )
        if not debs:
            subprocess.run(
                ["apt-get", "download", "libsecret-1-0"],
                cwd=BENCH,
                check=False,
                capture_output=True,
            )
            debs = glob.glob(str(BENCH / "libsecret-1-0_*.deb"))
        if not debs:
            return None
        subprocess.run(["dpkg-deb", "-x", debs[0], str(BENCH / "libsecret")], check=True)
    env["LD_LIBRARY_PATH"] = f"{libdir}:{env.get('LD_LIBRARY_PATH', '')}"
    env["AZCOPY_LOG_LOCATION"] = str(BENCH / "azcopy-logs")
    env["AZCOPY_JOB_PLAN_LOCATION"] = str(BENCH / "azcopy-plans")
    env["AZCOPY_DISABLE_SYSLOG"] = "true"
    return binary, env


def main() -> int:
    t0 = time.monotonic()
    image = make_image()
    print(f"image: {image} (made/reused in {time.monotonic() - t0:.1f} s)")
    drop_cache(image)
    t = time.monotonic()
    candidate = load_candidate(image)
    scan_s = time.monotonic() - t
    extents, digest = candidate.extents, candidate.sparse_digest
    pieces = list(chunked(extents.ranges, max_len=MAX_PUT, align=512, size=extents.size))
    print(
        f"size {extents.size} B, data {extents.data_bytes} B ({extents.data_bytes / GiB:.2f} GiB), "
        f"{len(pieces)} Put Page pieces; Candidate (extents and digest, one pass) "
        f"{scan_s:.1f} s (cold)"
    )
    results: dict[str, object] = {"data_bytes": extents.data_bytes, "size": extents.size}
    location = BENCH / "azurite-data"
    shutil.rmtree(location, ignore_errors=True)
    os.environ["VMCERT_CACHE_DIR"] = str(BENCH / "cache")
    with Azurite(regions=[*REGIONS, "upload", "azcopy"], location=location) as az:
        # 1. Sparse upload to one account.
        blob = blob_client(az.region("upload"), "sparse.vhd", pool=2 * THREADS + 8)
        blob.create_page_blob(extents.size)
        journal = Journal("bench", "vhds", "sparse.vhd", extents.size, digest, "bench")
        journal.discard()
        target = PageTarget(region="upload", blob=blob, journal=journal)
        drop_cache(image)
        t = time.monotonic()
        fan_out(image, pieces, [target], threads=THREADS)
        upload_s = time.monotonic() - t
        journal.discard()
        ratio = target.bytes_sent / extents.data_bytes
        print(
            f"sparse upload, {THREADS} threads: {upload_s:.1f} s, {target.bytes_sent} B sent, "
            f"bytes sent / data bytes = {ratio:.4f} (target <= 1.02), "
            f"{target.bytes_sent / upload_s / MiB:.0f} MiB/s, {target.requests} Put Page"
        )
        results.update(upload_s=upload_s, upload_bytes_sent=target.bytes_sent, upload_ratio=ratio)
        if target.error:
            print(f"  upload error: {target.error}")

        # 2. AzCopy, same image, same box.
        azcopy = None if os.environ.get("BENCH_SKIP_AZCOPY") else azcopy_binary()
        if azcopy is None:
            print(
                "azcopy: not available (npm ci installs @azure-tools/azcopy-linux); "
                "ratio not measured"
            )
        else:
            from azure.storage.blob import ContainerSasPermissions, generate_container_sas

            binary, env = azcopy
            blob_client(az.region("azcopy"), "probe")  # creates the container (a SAS cannot)
            sas = generate_container_sas(
                "vmcazcopy",
                "vhds",
                account_key=az.keys["vmcazcopy"],
                permission=ContainerSasPermissions(
                    read=True, write=True, create=True, list=True, add=True
                ),
                expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
            )
            url = f"{az.endpoint}/vmcazcopy/vhds/azcopy.vhd?{sas}"
            drop_cache(image)
            t = time.monotonic()
            run = subprocess.run(
                [
                    str(binary),
                    "copy",
                    str(image),
                    url,
                    "--blob-type",
                    "PageBlob",
                    "--from-to",
                    "LocalBlob",
                    "--log-level",
                    "ERROR",
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            azcopy_s = time.monotonic() - t
            if run.returncode != 0:
                print(
                    f"azcopy failed (rc {run.returncode}): {run.stdout[-400:]} {run.stderr[-400:]}"
                )
            else:
                stored = sum(
                    n for _, n in page_ranges(blob_client(az.region("azcopy"), "azcopy.vhd"))
                )
                print(
                    f"azcopy upload: {azcopy_s:.1f} s, {stored} B in page ranges "
                    f"({stored / extents.data_bytes:.4f} x data); "
                    f"ours / azcopy = {upload_s / azcopy_s:.2f} (target <= 0.5)"
                )
                results.update(
                    azcopy_s=azcopy_s, azcopy_stored=stored, vs_azcopy=upload_s / azcopy_s
                )

        # 3. Fan-out to three regions, the whole replicate_image path (approval forced).
        config = StorageConfig(regions={r: az.region(r) for r in REGIONS}, source="bench azurite")
        drop_cache(image)
        io_before = block_reads()
        t = time.monotonic()
        record = replicate_image(
            candidate, REGIONS, config=config, force=True, threads=THREADS, offer="bench"
        )
        fan_s = time.monotonic() - t
        disk = block_reads() - io_before
        print(
            f"fan-out to {len(REGIONS)} regions (auto): {fan_s:.1f} s total "
            "incl. verify (the Candidate's extents and digest are reused); "
            f"ok={record.ok}"
        )
        for r in record.regions:
            print(
                f"  {r.region}: {r.state} via {r.strategy}, sent {r.bytes_sent} B "
                f"({r.bytes_sent / extents.data_bytes:.4f} x data), "
                f"writing {r.send_s:.1f} s, verify {r.verify_s:.1f} s"
            )
        print(
            f"  image data read for sending: {record.source_reads:.3f} times (target: once); "
            "disk reads by this process during replicate_image: "
            f"{disk / extents.data_bytes:.2f} x data "
            "(sending only: the Candidate is not read again)"
        )
        results.update(
            fanout_s=fan_s,
            fanout_source_reads=record.source_reads,
            fanout_disk_read_ratio=disk / extents.data_bytes,
            fanout_ok=record.ok,
            fanout_sent=[r.bytes_sent for r in record.regions],
        )
    shutil.rmtree(location, ignore_errors=True)
    print("RESULT " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
