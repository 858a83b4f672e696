"""Shared pytest fixtures. Owners add theirs with small, separate edits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


def _build(variant: str) -> Path:
    """Build (or reuse from the cache) a test image; building needs root and network to Debian."""
    from images.recipe import build_test_image

    if os.geteuid() != 0:
        pytest.skip("building the test image needs root (CI runs as root)")
    return build_test_image(variant, progress=lambda line: print(line, file=sys.stderr))


@pytest.fixture(scope="session")
def good_image() -> Path:
    """The cached good Debian 12 test image (fixed VHD); built on first use (~1-2 min)."""
    return _build("good")


@pytest.fixture(scope="session")
def defective_image() -> Path:
    """The cached planted-defect variant (fixed VHD); see images.recipe.VARIANTS["defective"]."""
    return _build("defective")
