"""Pruning the test-image cache: stale entries go, current ones and busy builds stay."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from images.cache import prune, stale_entries
from images.recipe import VARIANTS, cached_image_path


def _entry(root: Path, stem: str, size: int = 1 << 20) -> list[Path]:
    vhd = root / f"{stem}.vhd"
    with open(vhd, "wb") as handle:
        handle.write(os.urandom(size))  # allocated, so the freed size is real
    files = [vhd, root / f"{stem}.log", root / f"{stem}.lock"]
    for extra in files[1:]:
        extra.write_text("")
    return files


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VMCERT_CACHE_DIR", str(tmp_path))
    (tmp_path / "images").mkdir()
    return tmp_path


def test_prune_removes_only_what_no_current_recipe_names(cache: Path) -> None:
    root = cache / "images"
    current = [p for name in VARIANTS for p in _entry(root, cached_image_path(name, cache).stem)]
    old_good = _entry(root, "debian12-good-0123456789abcdef")
    old_gone_variant = _entry(root, "debian12-retired-fedcba9876543210")
    leftover_build = root / ".build-debian12-good-0123456789abcdef-x1"
    (leftover_build / "rootfs").mkdir(parents=True)
    outside = cache / "host-dir"  # a build's rootfs links into the host: never counted or removed
    outside.mkdir()
    (outside / "big").write_bytes(os.urandom(8 << 20))
    (leftover_build / "rootfs" / "lib64").symlink_to(outside)
    unrelated = root / "notes.txt"
    unrelated.write_text("mine")

    assert {e.recipe_hash for e in stale_entries(cache)} == {
        "0123456789abcdef",
        "fedcba9876543210",
    }
    dry = prune(cache, dry_run=True)
    assert len(dry.removed) == 2 and all(p.exists() for p in old_good + old_gone_variant)
    assert 2 << 20 <= dry.freed < 4 << 20

    result = prune(cache)
    assert {e.variant for e in result.removed} == {"good", "retired"}
    assert result.freed >= 2 << 20 and not result.busy
    assert not any(p.exists() for p in [*old_good, *old_gone_variant, leftover_build])
    assert all(p.exists() for p in current) and unrelated.exists()
    assert (outside / "big").stat().st_size == 8 << 20
    assert prune(cache).removed == ()


def test_an_entry_whose_build_holds_the_lock_is_kept(cache: Path) -> None:
    root = cache / "images"
    files = _entry(root, "debian12-good-00000000000000aa")
    with open(files[2], "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a builder of that recipe is running
        result = prune(cache)
    assert not result.removed and [e.recipe_hash for e in result.busy] == ["00000000000000aa"]
    assert all(p.exists() for p in files)
    assert [e.recipe_hash for e in prune(cache).removed] == ["00000000000000aa"]


def test_cli_prune(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    _entry(cache / "images", "debian12-defective-0123456789abcdef")
    with pytest.raises(SystemExit) as exc:
        main(["images", "prune", "--dry-run"])
    assert exc.value.code == 0
    assert "would remove defective image of recipe 0123456789abcdef" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["images", "prune"])
    assert "removed 1 stale image(s)" in capsys.readouterr().out
    assert stale_entries(cache) == []
