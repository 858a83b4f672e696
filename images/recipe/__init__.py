"""Test-image recipe: a small Debian 12 cloud image as a fixed VHD, plus derived variants.

The good image is built from Debian packages with ``mmdebstrap`` using the host's own apt sources
(:mod:`~images.recipe.good`, configured by :mod:`~images.recipe.guest_config`); the ``defective``
variant plants one defect per check id in a copy (:mod:`~images.recipe.defective`); ``gen2`` puts
the same root file system behind a GPT with an EFI system partition (:mod:`~images.recipe.gen2`).

Every image is cached under :func:`default_cache_dir` by a hash of what shapes its bytes
(:mod:`~images.recipe.key`), so it is built once. Builds write into a temporary directory next to
the cache entry and rename the finished VHD into place; a lock file keeps two concurrent builders
(two test processes, say) from building the same entry twice (:mod:`~images.recipe.build`).
"""

from __future__ import annotations

from images.recipe.aptsources import SUITE, AptSource, host_apt_sources
from images.recipe.build import build_test_image
from images.recipe.good import PACKAGES
from images.recipe.key import RECIPE_VERSION, cached_image_path, default_cache_dir, recipe_hash
from images.recipe.tools import MIB, PARTITION_OFFSET
from images.recipe.variants import VARIANTS, Variant, get_variant

__all__ = [
    "MIB",
    "PACKAGES",
    "PARTITION_OFFSET",
    "RECIPE_VERSION",
    "SUITE",
    "VARIANTS",
    "AptSource",
    "Variant",
    "build_test_image",
    "cached_image_path",
    "default_cache_dir",
    "get_variant",
    "host_apt_sources",
    "recipe_hash",
]
