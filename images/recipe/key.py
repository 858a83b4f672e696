"""Where a test image lives in the cache, and the recipe hash that names it.

The hash covers exactly what shapes the built bytes, so an edit that cannot change an image does
not cost a rebuild (minutes each) and one that can always does:

* the source of the modules that build the image: the good image's (:data:`GOOD_MODULES`) and,
  for a derived variant, the module named after it (``defective.py``, ``gen2.py``); the
  orchestration (``build.py``), this module, the variant table and ``__init__.py`` only decide
  *whether* and *where* an image is built, not its bytes, and are left out;
* that source with comments, docstrings and layout removed (its syntax tree printed back with
  :func:`ast.unparse`), so rewording a comment or reformatting keeps the cached images;
* the variant's name and :data:`RECIPE_VERSION`.

Hashing the code rather than trusting a hand-bumped version means a forgotten bump can never
serve a stale image. :data:`RECIPE_VERSION` remains for rebuilding on purpose without a code change
(the Debian mirror's packages moved on). A new Python version may print the syntax tree slightly
differently; that costs one rebuild, never a stale image.
"""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

from images.recipe.variants import get_variant

RECIPE_VERSION = 1
"""Bump to rebuild every test image although no build code changed."""

GOOD_MODULES: tuple[str, ...] = ("tools", "aptsources", "guest_config", "good")
"""The modules (under ``images/recipe``) whose code builds the good image, which every variant
starts from."""

DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "waagent": ("azure",),
    "nocloud": ("azure",),
    "noeject": ("azure", "waagent"),
}
"""Variants derived from another derived variant: the modules of that one shape their bytes too."""

_PACKAGE_DIR = Path(__file__).resolve().parent


def default_cache_dir() -> Path:
    """The image cache: ``$VMCERT_CACHE_DIR`` if set, else the user cache dir + ``vmcert``."""
    override = os.environ.get("VMCERT_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir()) / "vmcert"


def recipe_modules(variant: str = "good") -> tuple[Path, ...]:
    """The source files whose code shapes the bytes of ``variant``."""
    name = get_variant(variant).name
    names = GOOD_MODULES if name == "good" else (*GOOD_MODULES, *DERIVED_FROM.get(name, ()), name)
    return tuple(_PACKAGE_DIR / f"{module}.py" for module in names)


def code_fingerprint(source: str) -> str:
    """``source`` without comments, docstrings or layout: its syntax tree printed back."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [s for s in body if not _is_bare_string(s)]
            node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.unparse(tree)


def _is_bare_string(statement: ast.stmt) -> bool:
    """A docstring or an attribute docstring: a string expression on its own has no effect."""
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def recipe_hash(variant: str = "good") -> str:
    """A short hash of what determines the image ``variant``'s bytes (see the module docstring)."""
    digest = hashlib.sha256(f"vmcert-recipe {RECIPE_VERSION} {get_variant(variant).name}".encode())
    for path in recipe_modules(variant):
        digest.update(f"\0{path.name}\0".encode())
        digest.update(code_fingerprint(path.read_text()).encode())
    return digest.hexdigest()[:16]


def cached_image_path(variant: str = "good", cache_dir: Path | None = None) -> Path:
    """Where the VHD of ``variant`` lives in the cache (it may not exist yet)."""
    root = (cache_dir or default_cache_dir()) / "images"
    return root / f"debian12-{variant}-{recipe_hash(variant)}.vhd"
