"""The stages' core calls on vmcert's certification core and replication package.

* :class:`CoreCertifier`: :func:`harness.runner.certify` on every plan image (inspection, boot
  under QEMU, checks) with the JSON, JUnit and HTML reports in the stage's run directory. Each
  image's extents and sparse digest, from the run's Candidate, are written next to its JSON
  report (``extents.json``) so Provisioning never reads the image again to learn them, also
  when a restarted worker runs it.
* :class:`CoreReplicator`: :func:`harness.replication.replicate_image` per image to every
  region, approved by the image's own certification report, every replica verified by digest.
  Without a storage configuration the embedded Azurite is kept alive (``vmcert storage up``),
  so the replicas are still there when Preview reads them back.
* :class:`CorePreviewVerifier`: the replica read back from its region's storage into the stage's
  directory (its digest recomputed from what was read), booted with the QEMU platform and
  reached over SSH.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import USER_ERRORS, InfraError, Interrupted
from harness.events import Phase, PhaseEvent
from harness.platforms import PlatformOptions
from harness.publish.core import (
    CertificationVerdict,
    PlanImage,
    PreviewCheck,
    Replica,
    ReplicationFailed,
)
from harness.publish.model import Stage
from harness.publish.outcome import Artifact
from harness.publish.settings import PublishSettings
from harness.publish.stages import StageRunner, stage_table
from harness.replication.config import Region, StorageConfig
from harness.replication.source import ImageData, ImageFile, scan_image
from images.candidate import Candidate
from images.extents import ExtentMap
from reports.model import RunReport

EXTENTS_FILE = "extents.json"
"""Next to each image's ``report.json``: the Candidate's extents and digest, for replication."""

STOPPABLE = frozenset({Phase.INSPECT, Phase.BOOT, Phase.SETTLE, Phase.CHECKS})
"""The phase changes at which a canceled Certification stops."""

REPORT_KINDS = (("json", "report.json"), ("junit", "junit.xml"), ("html", "report.html"))


# ---------------------------------------------------------------------------------------------
# Certification
# ---------------------------------------------------------------------------------------------


class CoreCertifier:
    """``Certifier`` on :func:`harness.runner.certify` (the QEMU platform by default)."""

    def __init__(
        self,
        platform: str = "qemu",
        *,
        policy: str | None = None,
        platform_options: PlatformOptions | None = None,
    ) -> None:
        self.platform = platform
        self.policy = policy
        self.platform_options = platform_options

    def certify(
        self, images: Sequence[PlanImage], run_dir: Path, cancel: threading.Event
    ) -> CertificationVerdict:
        from harness.runner import CertifyOptions, certify

        # A re-run (a retry, a resumed worker) certifies again from scratch: reports of an
        # attempt that never finished must not pass for this one's.
        if run_dir.exists():
            reap_killed_boots(run_dir)
            shutil.rmtree(run_dir)

        def keep_extents(
            run: RunReport, _directory: Path, candidates: Mapping[Path, Candidate]
        ) -> None:
            for report in run.images:
                candidate = candidates.get(Path(report.path))
                image_dir = report.artifacts.get("run_dir")
                if candidate is not None and image_dir:
                    write_extents(Path(image_dir) / EXTENTS_FILE, candidate)

        def watch(event: PhaseEvent) -> None:
            # The request was canceled or this worker lost its claim: stop when the next image
            # or phase starts (the runner tears down the machine and still writes the reports).
            # Never from teardown or done events: the machine must be destroyed.
            if cancel.is_set() and event.phase in STOPPABLE:
                raise Interrupted("the publish request was canceled")

        options = CertifyOptions(
            platform=self.platform,
            platform_options=self.platform_options,
            policy=self.policy,
            run_dir=run_dir,
            after_reports=[keep_extents],
        )
        try:
            run, written = certify([image.path for image in images], options, events=watch)
        except Interrupted:
            raise
        except InfraError as exc:
            return CertificationVerdict(False, infra_error=str(exc))
        except USER_ERRORS as exc:  # a policy or waiver file the core refuses
            return CertificationVerdict(False, failing=(str(exc),))
        return _verdict(images, run, written)


def reap_killed_boots(directory: Path) -> list[str]:
    """End what the boots of a killed worker left under ``directory``; what was reaped.

    A boot's files live in a ``qemu-*`` directory under the stage's directory, except its QMP
    socket when that path would be too long (a ``vmcert-qmp-*`` directory in the temporary
    directory, named in the boot's ``qemu.cmdline``). QEMU itself dies with the worker
    (``PR_SET_PDEATHSIG``); one still running on those files (the parent-death signal is lost
    when the booting thread ended first) is killed here, before its files are removed.
    """
    reaped: list[str] = []
    temp = Path(tempfile.gettempdir()).resolve()
    for cmdline in directory.rglob("qemu.cmdline"):
        boot_dir = cmdline.parent
        for pid in _qemu_processes_on(boot_dir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                reaped.append(f"QEMU pid {pid}")
        with contextlib.suppress(OSError):
            for word in cmdline.read_text(encoding="utf-8").split():
                if not word.startswith("unix:"):
                    continue
                socket_dir = Path(word[len("unix:") :].split(",", 1)[0]).parent
                if (
                    socket_dir.name.startswith("vmcert-qmp-")
                    and socket_dir.parent.resolve() == temp
                    and socket_dir.is_dir()
                ):
                    shutil.rmtree(socket_dir, ignore_errors=True)
                    reaped.append(str(socket_dir))
    return reaped


def _qemu_processes_on(boot_dir: Path) -> list[int]:
    """Running QEMU processes whose command line names a file in ``boot_dir``."""
    needles = {str(boot_dir) + "/", str(boot_dir.resolve()) + "/"}
    found: list[int] = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        words = [a.decode(errors="replace") for a in argv if a]
        if (
            words
            and Path(words[0]).name.startswith("qemu-system")
            and any(needle in word for needle in needles for word in words)
        ):
            found.append(int(proc.name))
    return found


def write_extents(path: Path, candidate: Candidate) -> None:
    data = {
        "path": str(candidate.path),
        "sparse_digest": candidate.sparse_digest,
        "extents": candidate.extents.to_dict(),
    }
    path.write_text(json.dumps(data) + "\n", encoding="utf-8")


def _verdict(
    images: Sequence[PlanImage], run: RunReport, written: Path | None
) -> CertificationVerdict:
    failing: list[str] = []
    infra: list[str] = []
    digests: dict[str, str] = {}
    approvals: dict[str, str] = {}
    reports: list[Artifact] = []
    if written is not None:
        for kind, name in REPORT_KINDS:
            if (written / name).is_file():
                reports.append(Artifact(kind, written / name))
    for image, report in zip(images, run.images, strict=True):
        label = f"plan {image.plan} {image.version}"
        if report.input_error is not None:
            failing.append(f"{label}: {report.input_error}")
        for result in report.results:
            if result.failed:
                failing.append(f"{label}: {result.check_id}: {result.message}")
        if report.infra_error is not None and report.verdict == "infra_error":
            infra.append(f"{label}: {report.infra_error}")
        if report.sparse_digest:
            digests[str(image.path)] = report.sparse_digest
        image_dir = report.artifacts.get("run_dir")
        if image_dir is None:
            continue
        single = Path(image_dir) / "report.json"
        if report.verdict == "certified":
            approvals[str(image.path)] = str(single)
        tag = f"{image.plan}-{image.version}"
        if single.is_file():
            reports.append(Artifact(f"report-{tag}", single))
        serial = report.artifacts.get("serial_log")
        if serial and Path(serial).is_file():
            reports.append(Artifact(f"serial-{tag}", Path(serial)))
    return CertificationVerdict(
        passed=not failing and not infra,
        failing=tuple(failing),
        reports=tuple(reports),
        # a failing check is a verdict; only a run with no failure and no verdict is retried
        infra_error="; ".join(infra) if infra and not failing else None,
        digests=digests,
        approvals=approvals,
    )


# ---------------------------------------------------------------------------------------------
# Provisioning
# ---------------------------------------------------------------------------------------------


def storage_for(storage_config: Path | None, regions: Sequence[str]) -> StorageConfig:
    """The configured storage (the offer's file, else ``$VMCERT_STORAGE_CONFIG``), else the
    embedded Azurite kept alive across calls: Preview reads back what Provisioning wrote."""
    from harness.replication import azurite
    from harness.replication.config import configured_path, load_config

    path = configured_path(storage_config)
    if path is not None:
        return load_config(path)
    return azurite.up(list(regions)).config()


def unreachable_regions(regions: Sequence[Region], timeout: float = 10.0) -> list[str]:
    """``region (endpoint): reason`` for each region whose endpoint takes no TCP connection.

    The storage SDK retries a refused connection for about 90 s per region before it gives up;
    a stage asks first, so an unreachable account fails in seconds with its cause. Skipped
    behind an HTTP(S) proxy, where only the proxy can tell.
    """
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY")):
        return []
    problems: list[str] = []
    for region in regions:
        parts = urlsplit(region.endpoint)
        if parts.hostname is None:
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            problems.append(f"{region.name} ({region.endpoint}): {reason.lower()}")
    return problems


def image_data(image: PlanImage, approval: Path) -> ImageData:
    """The image as Certification's Candidate saw it (extents and digest, from ``extents.json``
    next to the approving report); a single scan when that record is missing."""
    record = approval.parent / EXTENTS_FILE
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        extents = data["extents"]
        ranges = tuple((int(offset), int(length)) for offset, length in extents["ranges"])
        mapped = ExtentMap(int(extents["size"]), ranges, int(extents["data_bytes"]))
        return ImageFile(image.path, mapped, str(data["sparse_digest"]))
    except (OSError, ValueError, KeyError, TypeError):
        return scan_image(image.path)


class CoreReplicator:
    """``Replicator`` on :func:`harness.replication.replicate_image`."""

    def __init__(self, *, strategy: str = "auto", threads: int = 8) -> None:
        self.strategy = strategy
        self.threads = threads

    def replicate(
        self,
        images: Sequence[PlanImage],
        regions: Sequence[str],
        storage_config: Path | None,
        work_dir: Path,
        cancel: threading.Event,
        approvals: Mapping[Path, Path],
    ) -> tuple[Replica, ...]:
        from harness.replication import replicate_image

        try:
            config = storage_for(storage_config, regions)
            unreachable = unreachable_regions(config.select(list(regions)))
        except InfraError as exc:
            raise ReplicationFailed(f"storage unavailable: {exc}", retry=True) from None
        except USER_ERRORS as exc:
            raise ReplicationFailed(str(exc), retry=False) from None
        if unreachable:
            raise ReplicationFailed("storage unreachable: " + "; ".join(unreachable), retry=True)
        replicas: list[Replica] = []
        for index, image in enumerate(images):
            if cancel.is_set():
                raise Interrupted("the publish request was canceled")
            approval = approvals[image.path]
            try:
                record = replicate_image(
                    image_data(image, approval),
                    list(regions),
                    config=config,
                    strategy=self.strategy,
                    approval_report=approval,
                    threads=self.threads,
                    offer=image.offer or None,
                    plan=image.plan,
                    version=image.version,
                )
            except Interrupted:
                raise
            except InfraError as exc:  # no region reachable: may pass
                raise ReplicationFailed(str(exc), retry=True) from None
            except USER_ERRORS as exc:  # not approved, bad configuration: the publisher fixes it
                raise ReplicationFailed(str(exc), retry=False) from None
            record.write(work_dir / f"replication-{index + 1}-{image.plan}-{image.version}.json")
            failed = [r for r in record.regions if not r.ok]
            if failed:
                raise ReplicationFailed(
                    "; ".join(f"{r.region}: {r.error or r.state.value}" for r in failed),
                    retry=True,
                )
            for region in record.regions:
                replicas.append(
                    Replica(
                        plan=image.plan,
                        version=image.version,
                        region=region.region,
                        url=f"{region.endpoint}/{region.container}/{region.blob}",
                        digest=region.digest or "",
                        verified=region.digest == record.image["sparse_digest"],
                    )
                )
        return tuple(replicas)


# ---------------------------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------------------------


class CorePreviewVerifier:
    """``PreviewVerifier``: the replica read back from its region (pages only, its sparse digest
    recomputed from the bytes read), booted with the QEMU platform and reached over SSH."""

    def __init__(self, options: PlatformOptions | None = None) -> None:
        self.options = options

    def verify(
        self,
        replica: Replica,
        storage_config: Path | None,
        work_dir: Path,
        cancel: threading.Event,
    ) -> PreviewCheck:
        from harness.platforms.base import BootContext, DiskFile
        from harness.platforms.qemu import QemuPlatform

        reap_killed_boots(work_dir)  # a killed earlier attempt's VM and files
        for stale in work_dir.glob("qemu-*"):
            shutil.rmtree(stale, ignore_errors=True)
        local = work_dir / "preview.vhd"
        try:
            detail = read_back(replica, storage_config, local)
        except (InfraError, OSError) as exc:
            return PreviewCheck(False, f"cannot read the replica back from {replica.region}: {exc}")
        if detail is not None:
            local.unlink(missing_ok=True)
            return PreviewCheck(False, detail)
        serial = work_dir / "preview-serial.log"
        notes: list[str] = []
        context = BootContext(
            run_dir=work_dir, cancel=cancel, serial_log_to=serial, notify=notes.append
        )
        try:
            platform = QemuPlatform()
            with (
                platform.booted(DiskFile.probe(local), self.options, context) as machine,
                machine.session() as session,
            ):
                result = session.run("uname -sr")
        except Interrupted:
            raise
        except InfraError as exc:
            artifacts = (Artifact("serial", serial),) if serial.is_file() else ()
            return PreviewCheck(False, f"the preview VM did not come up: {exc}", artifacts)
        finally:
            local.unlink(missing_ok=True)
        artifacts = (Artifact("serial", serial),) if serial.is_file() else ()
        if not result.ok:
            return PreviewCheck(
                False, "the preview VM answered SSH but a command failed", artifacts
            )
        return PreviewCheck(
            True,
            f"{replica.plan} {replica.version} read back from {replica.region} (digest "
            f"{replica.digest[:12]}) booted and answered SSH ({result.stdout_text.strip()})",
            artifacts,
        )


def read_back(replica: Replica, storage_config: Path | None, local: Path) -> str | None:
    """Download ``replica``'s pages into the sparse file ``local`` and recompute its sparse
    digest on the way; None when it is the certified one, else why not."""
    from harness.replication.blob import blob_client, ordered_map, page_ranges, read_range
    from harness.replication.redaction import short_error
    from images.extents import CHUNK, SparseDigest, chunked

    config = storage_for(storage_config, [replica.region])
    (region,) = config.select([replica.region])
    prefix = f"{region.endpoint}/{region.container}/"
    if not replica.url.startswith(prefix):
        return f"the replica {replica.url} is not in {replica.region}'s container"
    try:
        blob = blob_client(region, replica.url[len(prefix) :])
        size = int(blob.get_blob_properties().size)
        pieces = list(chunked(page_ranges(blob), max_len=CHUNK, align=512, size=size))
        digest = SparseDigest()
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, size)
            for (offset, _length), data in ordered_map(
                lambda p: read_range(blob, p[0], p[1]), pieces, threads=8
            ):
                os.pwrite(fd, data, offset)
                digest.feed(offset, data)
        finally:
            os.close(fd)
    except OSError:
        raise
    except Exception as exc:  # the storage SDK's errors: the region cannot serve the replica
        raise InfraError(short_error(exc)) from None
    if digest.hexdigest() != replica.digest:
        return (
            f"the replica in {replica.region} differs from the certified image (digest "
            f"{digest.hexdigest()[:12]}, certified {replica.digest[:12]})"
        )
    return None


def default_stages(settings: PublishSettings) -> dict[Stage, StageRunner]:
    """The stage table the CLI runs: every stage on the real core."""
    return stage_table(CoreCertifier(), CoreReplicator(), CorePreviewVerifier())
