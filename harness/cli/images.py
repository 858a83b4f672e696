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


@images_group.command("prune")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def prune_command(dry_run: bool) -> None:
    """Remove cached images that older recipes built (the current ones stay).

    Every change of the recipe builds new images (about 750 MiB each) and leaves the old ones.
    An entry whose build is running right now is left alone.
    """
    from images.cache import prune

    result = prune(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for entry in result.removed:
        click.echo(
            f"{verb} {entry.variant} image of recipe {entry.recipe_hash} ({_mib(entry.size)})"
        )
    for entry in result.busy:
        notice(f"kept {entry.variant} image of recipe {entry.recipe_hash}: a build holds its lock")
    click.echo(f"{verb} {len(result.removed)} stale image(s), {_mib(result.freed)}")


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"
