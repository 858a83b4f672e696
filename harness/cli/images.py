"""``vmcert images build|list``: the cached Debian 12 test images (good and defective)."""

from __future__ import annotations

import click

from harness.console import notice
from images.recipe import VARIANTS, build_test_image, cached_image_path, default_cache_dir


@click.group("images")
def images_group() -> None:
    """Build and list the Debian 12 test images (cached by recipe hash)."""


@images_group.command("build")
@click.option(
    "--variant",
    type=click.Choice(sorted(VARIANTS)),
    default="good",
    show_default=True,
    help="Which image: the good one or a variant with planted defects.",
)
@click.option("--force", is_flag=True, help="Rebuild even when the image is cached.")
def build_command(variant: str, force: bool) -> None:
    """Build (or reuse) a test image; its VHD path is the last line of stdout.

    Needs root and the tools from scripts/install.sh. Progress goes to stderr, so
    `vmcert certify "$(vmcert images build)"` works.
    """
    path = build_test_image(variant, force=force, progress=notice)
    click.echo(str(path))


@images_group.command("list")
def list_command() -> None:
    """Show every variant, what it is for, and its cache path (built or not)."""
    click.echo(f"cache: {default_cache_dir() / 'images'}")
    for name, spec in sorted(VARIANTS.items()):
        path = cached_image_path(name)
        state = "built" if path.is_file() else "not built"
        failures = ", ".join(sorted(spec.expected_failures)) or "none"
        click.echo(f"{name}: {spec.description}")
        click.echo(f"  {state}: {path}")
        click.echo(f"  expected failures: {failures}")
