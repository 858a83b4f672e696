"""Given the image's Candidate, replication opens the image only to send its data.

Every open of the image file is counted with an audit hook (``open`` is raised by ``open()`` and
``os.open`` alike, in every thread), so a step that scanned the extents or recomputed the digest
would show as one more open.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import pytest

from checks.model import Status
from harness.cli.certify_replication import ReplicationStep
from harness.errors import InputError
from harness.replication import replicate_image
from harness.replication.azurite import Azurite
from harness.replication.config import StorageConfig
from images.candidate import Candidate, load_candidate
from images.extents import sparse_digest
from images.vhd import build_footer
from tests.test_certify_replication import _image_report, _run
from tests.test_replication import make_image, write_config

REGIONS = ["eastus", "westeurope", "southeastasia"]


class ImageOpens:
    """Counts the opens of one file while active (``with ImageOpens(path) as opens``)."""

    _active: ClassVar[list[ImageOpens]] = []
    _lock = threading.Lock()
    _hooked = False

    def __init__(self, path: Path) -> None:
        self.path = os.path.abspath(path)
        self.count = 0

    @classmethod
    def _audit(cls, event: str, args: tuple[object, ...]) -> None:
        if event != "open" or not cls._active or not args:
            return
        target = args[0]
        if not isinstance(target, str | bytes | os.PathLike):
            return  # an fd (os.fdopen): not a new open of a path
        path = os.path.abspath(os.fsdecode(target))
        with cls._lock:
            for watch in cls._active:
                if watch.path == path:
                    watch.count += 1

    def __enter__(self) -> ImageOpens:
        if not ImageOpens._hooked:  # audit hooks cannot be removed: one, installed once
            sys.addaudithook(ImageOpens._audit)
            ImageOpens._hooked = True
        with self._lock:
            self._active.append(self)
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._active.remove(self)


def fixed_vhd(path: Path, *, seed: int) -> Path:
    """A sparse fixed VHD (random data extents, a valid footer) that ``load_candidate`` accepts."""
    make_image(path, size_mib=16, seed=seed, extents=3)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size - 512)
        fh.write(build_footer(size - 512))
    return path


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with Azurite(regions=REGIONS) as instance:
        yield instance


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("VMCERT_CACHE_DIR", str(path))
    return path


def test_the_counter_sees_a_digest_being_computed(tmp_path: Path) -> None:
    """The audit hook counts the reads this file is about (else the tests below prove nothing)."""
    image = fixed_vhd(tmp_path / "seen.vhd", seed=20)
    with ImageOpens(image) as opens:
        sparse_digest(image)
    assert opens.count == 1
    with ImageOpens(image) as opens:
        load_candidate(image)
    assert opens.count == 1, "load_candidate reads the image once for extents and digest"


def test_a_given_candidate_is_opened_once_to_send_it(
    azurite: Azurite, tmp_path: Path, cache: Path
) -> None:
    image = fixed_vhd(tmp_path / "once.vhd", seed=21)
    candidate = load_candidate(image)
    config = StorageConfig(regions={r: azurite.region(r) for r in REGIONS})

    with ImageOpens(image) as opens:
        record = replicate_image(
            candidate, REGIONS, config=config, force=True, strategy="stream", offer="once"
        )
    assert record.ok, [(r.region, r.state, r.error) for r in record.regions]
    assert opens.count == 1, "only the fan-out may open the image: no extent scan, no digest"
    assert record.source_reads == 1.0
    assert record.image["sparse_digest"] == candidate.sparse_digest == sparse_digest(image)
    assert record.image["data_bytes"] == candidate.extents.data_bytes

    # Every region already verified: nothing is sent, so the image is not opened at all...
    with ImageOpens(image) as opens:
        again = replicate_image(candidate, REGIONS, config=config, force=True, offer="once")
    assert [r.state for r in again.regions] == ["skipped"] * 3
    assert opens.count == 0
    # ...while from a bare path the extents and digest are computed: one (single-pass) open.
    with ImageOpens(image) as opens:
        from_path = replicate_image(image, REGIONS, config=config, force=True, offer="once")
    assert [r.state for r in from_path.regions] == ["skipped"] * 3
    assert opens.count == 1


def test_certify_hook_uses_the_runs_candidates(
    azurite: Azurite, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``certify --replicate``: the Candidate the run computed is handed over, not recomputed."""
    env: dict[str, str] = {}
    cfg = write_config(tmp_path / "storage.toml", azurite, REGIONS[:2], env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    first = fixed_vhd(tmp_path / "first.vhd", seed=22)
    second = fixed_vhd(tmp_path / "second.vhd", seed=23)
    run = _run(_image_report(first, Status.PASS), _image_report(second, Status.PASS))
    made: dict[Path, Candidate] = {first: load_candidate(first)}
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    # The first image's Candidate comes from the step, the second's from the call.
    step = ReplicationStep(REGIONS[:2], config=cfg, strategy="stream", candidates=made.get)
    with ImageOpens(first) as first_opens, ImageOpens(second) as second_opens:
        handed = {second.resolve(): load_candidate(second)}  # as the runner would, earlier
        assert second_opens.count == 1
        step(run, run_dir, handed)
    assert step.ok and len(step.records) == 2
    assert first_opens.count == 1, "the handed-over Candidate is not recomputed"
    assert second_opens.count == 2, "load_candidate, then the fan-out: nothing in between"


def test_a_candidate_whose_file_changed_size_is_refused(tmp_path: Path) -> None:
    image = fixed_vhd(tmp_path / "grown.vhd", seed=24)
    candidate = load_candidate(image)
    with open(image, "ab") as fh:
        fh.write(bytes(512))
    with pytest.raises(InputError, match="changed since it was inspected"):
        replicate_image(candidate, ["eastus"], config=StorageConfig(regions={}), force=True)
