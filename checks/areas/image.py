"""Offline checks of the image file itself: VHD format, footer, sizes and the partition layout.

Criteria from azure-certification.md §3 ("VHD specifications", "OS disk size validation", "First
MB") and §1b (``first_1mb_free``). Every check reads the ``"image"`` fact, an
:class:`images.inspect.ImageInspection` produced by :func:`images.inspect.inspect_image`.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable
from pathlib import PurePath

from checks.facts.image import FACT as IMAGE
from checks.model import Evaluate, Facts, Outcome, Params, Severity, Status
from checks.registry import check
from images.inspect import ImageInspection, human_size
from images.vhd import FOOTER_SIZE, ImageFormat

OFFLINE = ("offline",)
MiB = 1024 * 1024
GiB = 1024 * MiB

_FORMAT_TEXT = {
    ImageFormat.VHD_FIXED: "fixed VHD",
    ImageFormat.VHD_DYNAMIC: "dynamic VHD",
    ImageFormat.VHD_DIFFERENCING: "differencing VHD",
    ImageFormat.VHDX: "VHDX",
    ImageFormat.QCOW2: "qcow2",
    ImageFormat.RAW: "raw disk image",
    ImageFormat.UNKNOWN: "unknown format",
}


def _skipped(message: str) -> Outcome:
    return Outcome(Status.SKIPPED, "", message)


def on_image(judge: Callable[[ImageInspection, Params], Outcome]) -> Evaluate:
    """Adapt ``judge(image, params)`` to ``evaluate(facts, params)``: skipped without an image."""

    @functools.wraps(judge)
    def evaluate(facts: Facts, params: Params) -> Outcome:
        image = facts.get(IMAGE)
        if image is None:
            return _skipped("no image inspected")
        return judge(image, params)

    return evaluate


def convert_command(
    image: ImageInspection, *, src: str | None = None, fmt: str | None = None
) -> str:
    """The ``qemu-img convert`` command that makes a fixed VHD of ``image``.

    The output is named after the image (``disk.qcow2`` → ``disk.vhd``, ``disk.vhd`` →
    ``disk-fixed.vhd``); ``src``/``fmt`` convert an intermediate file instead.
    """
    original = PurePath(image.path)
    suffix = "-fixed.vhd" if original.suffix.lower() == ".vhd" else ".vhd"
    dst = original.with_name(original.stem + suffix)
    fmt = fmt or image.format.qemu_name or "raw"
    return (
        f"qemu-img convert -f {fmt} -O vpc -o subformat=fixed,force_size "
        f"{shlex.quote(src or str(original))} {shlex.quote(str(dst))}"
    )


def _round_mib(size: int) -> int:
    return -(-size // MiB) * MiB


@check(
    id="vhd_format",
    title="Image is a fixed VHD",
    area="image",
    severity=Severity.FAIL,
    required="fixed VHD (footer disk type 2)",
    facts=[IMAGE],
    tags=OFFLINE,
)
@on_image
def vhd_format(image: ImageInspection, params: Params) -> Outcome:
    """Azure accepts only fixed-format VHDs ("VHDX isn't supported in Azure, only fixed VHD")."""
    actual = _FORMAT_TEXT[image.format]
    if image.format is ImageFormat.VHD_FIXED:
        return Outcome(Status.PASS, actual, "fixed VHD footer (disk type 2)")
    command = convert_command(image)
    if image.virtual_size is not None and image.virtual_size % MiB:
        # The size must become a whole MiB first; qemu-img resizes raw files reliably (not vpc).
        size = _round_mib(image.virtual_size)
        src = shlex.quote(image.path)
        if image.format is ImageFormat.RAW:
            command = f"qemu-img resize -f raw {src} {size} && {command}"
        else:
            original = PurePath(image.path)
            tmp = str(original.with_name(original.stem + "-resized.raw"))
            command = (
                f"qemu-img convert -f {image.format.qemu_name} -O raw {src} {shlex.quote(tmp)} && "
                f"qemu-img resize -f raw {shlex.quote(tmp)} {size} && "
                + convert_command(image, src=tmp, fmt="raw")
            )
    return Outcome(
        Status.FAIL,
        actual,
        f"Azure accepts only fixed VHDs, not {actual}; convert with: {command}",
    )


@check(
    id="vhd_footer",
    title="VHD footer cookie and checksum",
    area="image",
    severity=Severity.FAIL,
    required="cookie 'conectix' and a matching footer checksum",
    facts=[IMAGE],
    tags=OFFLINE,
)
@on_image
def vhd_footer(image: ImageInspection, params: Params) -> Outcome:
    """The 512-byte footer carries the cookie ``conectix`` and a valid one's-complement checksum."""
    footer = image.footer
    if footer is None:
        return _skipped(f"not a VHD ({_FORMAT_TEXT[image.format]}): no footer to check")
    cookie = footer.cookie.decode("latin-1")
    if not footer.cookie_ok:
        return Outcome(
            Status.FAIL,
            f"cookie {cookie!r}",
            "Disk is expected to have cookie value 'conectix'",
        )
    if not footer.checksum_ok:
        return Outcome(
            Status.FAIL,
            f"cookie {cookie!r}, checksum 0x{footer.checksum:08x} "
            f"(computed 0x{footer.computed_checksum:08x})",
            "the footer checksum does not match its bytes: the footer is corrupt or was edited "
            "by hand; regenerate it with qemu-img convert",
        )
    return Outcome(
        Status.PASS,
        f"cookie {cookie!r}, checksum 0x{footer.checksum:08x} (valid)",
        f"footer v{footer.version_text} by {footer.creator_app.strip()!r}, "
        f"{footer.disk_type_name} disk",
    )


@check(
    id="vhd_size_alignment",
    title="Virtual size is a whole number of MiB",
    area="image",
    severity=Severity.FAIL,
    required="a multiple of 1 MiB (1048576 bytes)",
    facts=[IMAGE],
    tags=OFFLINE,
)
@on_image
def vhd_size_alignment(image: ImageInspection, params: Params) -> Outcome:
    """The virtual size must be a multiple of 1 MB, i.e. 1024 × 1024 bytes."""
    size = image.virtual_size
    if size is None:
        return _skipped(f"virtual size unknown for {_FORMAT_TEXT[image.format]}")
    if size % MiB == 0:
        return Outcome(Status.PASS, human_size(size), f"{size // MiB} MiB exactly")
    rounded = _round_mib(size)
    return Outcome(
        Status.FAIL,
        human_size(size),
        f"has an unsupported virtual size of {size} bytes. The size must be a whole number "
        f"(in MBs). Resize the raw disk to {rounded} bytes ({rounded // MiB} MiB) before "
        "converting: qemu-img resize -f raw <disk.raw> " + str(rounded),
    )


@check(
    id="vhd_file_length",
    title="File length is virtual size + 512",
    area="image",
    severity=Severity.FAIL,
    required="virtual size + 512 bytes",
    facts=[IMAGE],
    tags=OFFLINE,
)
@on_image
def vhd_file_length(image: ImageInspection, params: Params) -> Outcome:
    """A fixed VHD is the disk bytes followed by the 512-byte footer: nothing more, nothing less."""
    if image.format is not ImageFormat.VHD_FIXED or image.footer is None:
        return _skipped(f"only a fixed VHD has a fixed length ({_FORMAT_TEXT[image.format]})")
    expected = image.footer.current_size + FOOTER_SIZE
    required = f"{expected} bytes (virtual size {image.footer.current_size} + 512)"
    actual = f"{image.file_length} bytes"
    if image.file_length == expected:
        return Outcome(Status.PASS, actual, "file length = virtual size + 512", required=required)
    delta = image.file_length - expected
    what = f"{delta} bytes too long" if delta > 0 else f"{-delta} bytes short (truncated data)"
    return Outcome(
        Status.FAIL,
        actual,
        f"the file is {what}: the footer says the disk is {image.footer.current_size} bytes",
        required=required,
    )


@check(
    id="os_disk_size",
    title="OS disk size within Azure limits",
    area="image",
    severity=Severity.FAIL,
    required="{min_mib} MiB to {max_gib} GiB",
    facts=[IMAGE],
    tags=OFFLINE,
    params={
        "min_mib": 20,
        "max_gib": 1023,
        "os_family": "linux",
        "linux_min_gb": 30,
        "linux_max_gb": 1023,
        "windows_min_gb": 30,
        "windows_max_gb": 250,
    },
)
@on_image
def os_disk_size(image: ImageInspection, params: Params) -> Outcome:
    """At least 20 MiB and at most 1023 GiB; outside the recommended range (Linux 30–1023 GB,
    Windows 30–250 GB, chosen by the ``os_family`` parameter) it is a warning. Azure's "GB" for
    disk sizes are GiB, and are treated as such."""
    size = image.virtual_size
    if size is None:
        return _skipped(f"virtual size unknown for {_FORMAT_TEXT[image.format]}")
    family = params.text("os_family").lower()
    if family not in ("linux", "windows"):
        family = "linux"
    low, high = params.integer(f"{family}_min_gb"), params.integer(f"{family}_max_gb")
    hard = f"{params['min_mib']} MiB to {params['max_gib']} GiB"
    required = f"{hard}; recommended {low}–{high} GB ({family})"
    actual = human_size(size)
    if size < params.integer("min_mib") * MiB:
        return Outcome(
            Status.FAIL,
            actual,
            f"the virtual size must be at least {params['min_mib']} MiB",
            required=required,
        )
    if size > params.integer("max_gib") * GiB:
        return Outcome(
            Status.FAIL,
            actual,
            f"the maximum VHD size is {params['max_gib']} GB; shrink the disk",
            required=required,
        )
    if not low * GiB <= size <= high * GiB:
        return Outcome(
            Status.WARNING,
            actual,
            f"outside the recommended {low}–{high} GB for {family} OS disks "
            "(Microsoft advises 30 to 50 GB)",
            required=required,
        )
    return Outcome(
        Status.PASS, actual, f"within the recommended {low}–{high} GB", required=required
    )


@check(
    id="first_1mb_free",
    title="First 1 MB of the OS disk free",
    area="image",
    severity=Severity.FAIL,
    required="no partition starts before sector {min_start_sector}",
    facts=[IMAGE],
    tags=OFFLINE,
    params={"min_start_sector": 2048},
)
@on_image
def first_1mb_free(image: ImageInspection, params: Params) -> Outcome:
    """The first 2048 sectors (1 MB) must stay free: the first partition starts at sector 2048 or
    later ("VM images must have 1 MB of free space")."""
    table = image.partition_table
    if table is None:
        return _skipped(image.partition_note or "partition table not read")
    minimum = params.integer("min_start_sector")
    if table.kind == "none":
        if table.whole_disk_filesystem != "none":
            return Outcome(
                Status.FAIL,
                f"{table.whole_disk_filesystem} file system at sector 0",
                "a file system fills the disk from sector 0; partition the disk and start the "
                f"first partition at sector {minimum}",
            )
        return Outcome(Status.WARNING, "no partition table", "no partitions to check")
    if not table.partitions:
        return Outcome(Status.PASS, "no partitions", f"{table.kind.upper()} table is empty")
    early = [p for p in table.partitions if p.start_lba < minimum]
    first = min(p.start_lba for p in table.partitions)
    if early:
        listed = ", ".join(f"partition {p.index} at sector {p.start_lba}" for p in early)
        return Outcome(
            Status.FAIL,
            f"first partition starts at sector {first}",
            f"{listed}: recreate the partition at sector {minimum} or later",
        )
    return Outcome(
        Status.PASS, f"first partition starts at sector {first}", "the first 1 MB is free"
    )


@check(
    id="partition_table_valid",
    title="Partition table is consistent",
    area="image",
    severity=Severity.FAIL,
    required="an MBR or GPT table without overlaps, past-the-end partitions or CRC errors",
    facts=[IMAGE],
    tags=OFFLINE,
)
@on_image
def partition_table_valid(image: ImageInspection, params: Params) -> Outcome:
    """MBR (with extended/logical partitions) or GPT (header and entry-array CRCs, protective MBR,
    backup header): no overlapping partitions, none past the end of the disk, no CRC errors."""
    table = image.partition_table
    if table is None:
        return _skipped(image.partition_note or "partition table not read")
    if table.kind == "none":
        return Outcome(
            Status.FAIL,
            "no partition table",
            "no MBR or GPT partition table found: an OS disk needs one to boot",
        )
    count = len(table.partitions)
    actual = f"{table.kind.upper()}, {count} partition{'s' if count != 1 else ''}"
    if table.problems:
        n = len(table.problems)
        return Outcome(
            Status.FAIL,
            f"{actual}, {n} problem{'s' if n != 1 else ''}",
            "; ".join(table.problems),
            evidence="\n".join(table.problems),
        )
    detail = "CRCs valid, backup header present" if table.kind == "gpt" else "no overlaps"
    return Outcome(Status.PASS, actual, detail, evidence="\n".join(table.notes))
