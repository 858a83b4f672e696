"""The kernel an image boots by default and its command line, read from the boot loader's files.

Which loader starts the image: an EFI system partition with systemd-boot loader entries means
systemd-boot; otherwise GRUB (``grub.cfg`` on the ESP or in ``/boot/grub*``, following a stub's
``configfile``; BLS entries when it calls ``blscfg``), or extlinux/syslinux. On an MBR disk with
both GRUB and extlinux configured, the boot code in the first sector decides.

The command line is what ``/proc/cmdline`` shows on that boot: the loader's arguments (variables
expanded from the configuration and ``grubenv``) with what the loader adds itself
(``BOOT_IMAGE=`` from GRUB and syslinux, ``initrd=`` from syslinux and systemd-boot).
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from checks.common import version_key
from checks.offline.image import OfflineError, OfflineImage
from images.fs import FileType, ImageFiles, ImagePathError

GRUB_CONFIGS = ("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg")
GRUBENVS = ("/boot/grub2/grubenv", "/boot/grub/grubenv")
EXTLINUX_CONFIGS = ("/boot/extlinux/extlinux.conf", "/boot/syslinux/syslinux.cfg")
ESP_MOUNTS = ("/boot/efi", "/efi", "/boot")
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"


@dataclass(frozen=True)
class BootEntry:
    """The default boot entry: which kernel starts, and with which command line."""

    loader: str
    """``grub``, ``extlinux`` or ``systemd-boot``."""
    config: str
    """The file the entry was read from (``p1:/loader/entries/debian.conf`` on an unmounted
    ESP)."""
    kernel: str
    """The kernel as the loader names it (``/boot/vmlinuz-6.1.0-28-cloud-amd64``)."""
    cmdline: str
    """``/proc/cmdline`` on that boot."""
    tree: ImageFiles = field(repr=False, compare=False)
    kernel_path: str = ""
    """The kernel file's path in :attr:`tree` ("" when it is not there)."""


def default_entry(image: OfflineImage) -> BootEntry:
    """The entry the image boots by default; :class:`OfflineError` when no loader is found."""
    files = image.files
    esp = _esp(image)
    if esp is not None:
        tree, where = esp
        entry = _systemd_boot(image, tree, where)
        if entry is not None:
            return entry
    grub = _grub_config(image, esp)
    extlinux = next((p for p in EXTLINUX_CONFIGS if image.is_file(p)), None)
    bios_grub = b"GRUB" in files.read_disk(0, 512)
    if grub is not None and (extlinux is None or bios_grub or esp is not None):
        return _grub(image, *grub)
    if extlinux is not None:
        return _extlinux(image, extlinux)
    if grub is not None:
        return _grub(image, *grub)
    raise OfflineError(
        "no boot loader configuration found (grub.cfg, extlinux.conf, systemd-boot entries)"
    )


# -- locating files -------------------------------------------------------------------------------


def _esp(image: OfflineImage) -> tuple[ImageFiles, str] | None:
    """The EFI system partition as a tree and how to name it (mounted or by volume)."""
    files = image.files
    for mount in files.mounts:
        if mount.path in ESP_MOUNTS and mount.fstype == "vfat":
            return files.view(mount.volume), mount.volume
    table = files.partition_table
    if table is None:
        return None
    for part in table.partitions:
        if part.type_id.upper() == ESP_TYPE or part.type_id == "0xef":
            vid = f"p{part.index}"
            if any(v.id == vid and v.status == "readable" for v in files.volumes):
                return files.view(vid), vid
    return None


def _find_kernel(tree: ImageFiles, path: str) -> str:
    """The kernel file in ``tree``: the path as given, else under /boot (a separate /boot
    partition names its files from its own root)."""
    clean = re.sub(r"^\([^)]*\)", "", path)
    for candidate in (clean, "/boot" + clean if clean.startswith("/") else "/boot/" + clean):
        try:
            if tree.stat(candidate).type is FileType.FILE:
                return candidate
        except ImagePathError:
            continue
    return ""


# -- systemd-boot ---------------------------------------------------------------------------------


def _bls_entry(text: str) -> dict[str, list[str]]:
    """A Boot Loader Specification entry: key → values (``options``/``initrd`` may repeat)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, _, value = stripped.partition(" ")
        if "\t" in key:
            key, _, rest = key.partition("\t")
            value = rest + " " + value
        out.setdefault(key, []).append(value.strip())
    return out


def _bls_sorted(names: Sequence[str]) -> list[str]:
    """Entry file names newest first (as systemd-boot and GRUB's blscfg order them)."""
    return sorted(names, key=lambda n: version_key(n.removesuffix(".conf")), reverse=True)


def _systemd_boot(image: OfflineImage, tree: ImageFiles, where: str) -> BootEntry | None:
    try:
        names = [e.name for e in tree.list_dir("/loader/entries") if e.name.endswith(".conf")]
    except ImagePathError:
        return None
    if not names:
        return None
    pattern = ""
    try:
        for line in tree.read_text("/loader/loader.conf", 64 * 1024).splitlines():
            words = line.split(None, 1)
            if len(words) == 2 and words[0] == "default":
                pattern = words[1].strip()
    except ImagePathError:
        pass
    ordered = _bls_sorted(names)
    chosen = next(
        (n for n in ordered if pattern and fnmatch.fnmatchcase(n, pattern)),
        next((n for n in ordered if pattern and fnmatch.fnmatchcase(n[:-5], pattern)), ordered[0]),
    )
    image.tick()
    entry = _bls_entry(tree.read_text(f"/loader/entries/{chosen}", 64 * 1024))
    kernel = (entry.get("linux") or [""])[0]
    if not kernel:
        raise OfflineError(f"{where}:/loader/entries/{chosen} has no linux line")
    options = " ".join(entry.get("options", []))
    initrds = " ".join("initrd=" + p.replace("/", "\\") for p in entry.get("initrd", []))
    cmdline = " ".join(x for x in (initrds, options) if x)
    return BootEntry(
        loader="systemd-boot",
        config=f"{where}:/loader/entries/{chosen}",
        kernel=kernel,
        cmdline=cmdline,
        tree=tree,
        kernel_path=_find_kernel(tree, kernel),
    )


# -- extlinux / syslinux --------------------------------------------------------------------------


def _extlinux(image: OfflineImage, path: str) -> BootEntry:
    """The ``DEFAULT`` label's kernel, ``APPEND`` (its own or the global one) and ``INITRD``."""
    labels: dict[str, dict[str, str]] = {}
    order: list[str] = []
    glob: dict[str, str] = {}
    current: dict[str, str] = glob
    default = ""
    menu_default = ""
    for raw in image.lines(path, 1024 * 1024):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if "\t" in key:
            key, _, rest = key.partition("\t")
            value = rest + " " + value
        key, value = key.lower(), value.strip()
        if key == "label":
            current = labels.setdefault(value, {})
            order.append(value)
        elif key == "default" and current is glob:
            default = value
        elif key == "menu" and value.lower() == "default" and current is not glob:
            menu_default = order[-1]
        elif key in ("linux", "kernel"):
            current["kernel"] = value
        elif key == "append":
            current["append"] = value
        elif key == "initrd":
            current["initrd"] = value
    name = default.split()[0] if default else (menu_default or (order[0] if order else ""))
    label = labels.get(name) or labels.get(menu_default) or {}
    kernel = label.get("kernel") or (name if name and name not in labels else "")
    if not kernel:
        raise OfflineError(f"{path}: no kernel for the default label {name!r}")
    append = label.get("append", glob.get("append", ""))
    if append == "-":
        append = ""
    if not label and default:  # DEFAULT is a kernel command line itself
        kernel, _, append = default.partition(" ")
    parts = [f"BOOT_IMAGE={kernel}", append]
    if label.get("initrd"):
        parts.append(f"initrd={label['initrd']}")
    return BootEntry(
        loader="extlinux",
        config=path,
        kernel=kernel,
        cmdline=" ".join(p for p in parts if p),
        tree=image.files,
        kernel_path=_find_kernel(image.files, kernel),
    )


# -- GRUB -----------------------------------------------------------------------------------------


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _env_pairs(image: OfflineImage, path: str) -> list[tuple[str, str]]:
    """The ``key=value`` lines of a GRUB environment file (grubenv, a ``load_env -f`` file)."""
    lines = image.lines(path, 64 * 1024)
    return [
        (key, value)
        for key, _, value in (line.partition("=") for line in lines if "=" in line)
        if not key.startswith("#")
    ]


def _grubenv(image: OfflineImage) -> dict[str, str]:
    env: dict[str, str] = {}
    for path in GRUBENVS:
        if image.is_file(path):
            for key, value in _env_pairs(image, path):
                env.setdefault(key, value)
            break
    return env


def _env_file(image: OfflineImage, path: str) -> dict[str, str]:
    """The variables of a ``load_env -f`` file (GRUB's root device: ``/boot`` may be its own
    file system); none when it is missing, as GRUB goes on without it."""
    clean = re.sub(r"^\([^)]*\)", "", path)
    for candidate in (clean, "/boot" + clean if clean.startswith("/") else "/boot/" + clean):
        if image.is_file(candidate):
            return {key.strip(): value.strip() for key, value in _env_pairs(image, candidate)}
    return {}


def _grub_config(
    image: OfflineImage, esp: tuple[ImageFiles, str] | None
) -> tuple[ImageFiles, str, str] | None:
    """(tree, path, name for messages) of the grub.cfg the loader reads."""
    if esp is not None:
        tree, where = esp
        try:
            found = tree.glob("/EFI/*/grub.cfg")
        except ImagePathError:
            found = []
        for path in found:
            text = tree.read_text(path, 1024 * 1024)
            if re.search(r"^\s*(menuentry|blscfg)\b", text, re.MULTILINE):
                return tree, path, f"{where}:{path}"
    for path in GRUB_CONFIGS:
        if image.is_file(path):
            return image.files, path, path
    return None


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError:
        return line.split()


def _expand(text: str, env: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


@dataclass
class _Menu:
    title: str
    ident: str = ""
    linux: str = ""
    args: list[str] = field(default_factory=list)
    children: list[_Menu] | None = None


def _parse_grub(
    lines: Sequence[str],
    env: dict[str, str],
    load_env: Callable[[str], Mapping[str, str]] | None = None,
) -> tuple[list[_Menu], bool]:
    """Menu entries (submenus nested) and whether ``blscfg`` is called; ``set`` and
    ``load_env -f FILE`` lines (through ``load_env``) update ``env`` in order."""
    top: list[_Menu] = []
    stack: list[list[_Menu]] = [top]
    entries: list[_Menu] = []  # open entries/submenus, innermost last
    bls = False
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word = line.split(None, 1)[0]
        if word in ("menuentry", "submenu"):
            words = _words(line.rstrip("{").strip())
            title = words[1] if len(words) > 1 else ""
            ident = ""
            for i, w in enumerate(words):
                if w == "--id" and i + 1 < len(words):
                    ident = words[i + 1]
                elif w.startswith("--id="):
                    ident = w[5:]
                elif w == "$menuentry_id_option" and i + 1 < len(words):
                    ident = words[i + 1]
            menu = _Menu(title, ident, children=[] if word == "submenu" else None)
            stack[-1].append(menu)
            entries.append(menu)
            if menu.children is not None:
                stack.append(menu.children)
        elif line == "}" or line.startswith("}"):
            if entries:
                closed = entries.pop()
                if closed.children is not None and len(stack) > 1:
                    stack.pop()
        elif word in ("linux", "linuxefi", "linux16") and entries and not entries[-1].linux:
            words = _words(_expand(line, env))
            if len(words) > 1:
                entries[-1].linux, entries[-1].args = words[1], words[2:]
        elif word == "set" and not entries:
            body = line[3:].strip()
            key, _, value = body.partition("=")
            value = " ".join(_words(value)) if value else ""
            env[key.strip()] = _expand(value, env)
        elif word == "load_env" and not entries and load_env is not None:
            # Azure Linux's grub.cfg takes the kernel and its arguments from
            # ``load_env -f $bootprefix/mariner.cfg`` (the kernel package's linux-REL.cfg)
            words = _words(_expand(line, env))
            if "-f" in words[:-1]:
                env.update(load_env(words[words.index("-f") + 1]))
        elif word == "blscfg":
            bls = True
    return top, bls


def _pick(menus: list[_Menu], default: str) -> _Menu | None:
    """The entry ``default`` names: an index path (``1>2``), an id or a title; else the first."""
    if not menus:
        return None
    head, _, rest = default.partition(">")
    chosen: _Menu | None = None
    if head.isdigit():
        index = int(head)
        chosen = menus[index] if index < len(menus) else None
    elif head:
        chosen = next((m for m in menus if head in (m.ident, m.title)), None)
    if chosen is None:
        chosen = menus[0]
    if chosen.children is not None:
        return _pick(chosen.children, rest)
    return chosen


def _grub(image: OfflineImage, tree: ImageFiles, path: str, name: str) -> BootEntry:
    env = _grubenv(image)
    for _ in range(4):  # follow configfile stubs (an ESP grub.cfg pointing at /boot/grub2)
        text = tree.read_text(path, 4 * 1024 * 1024)
        m = re.search(r"^\s*configfile\s+(\S+)", text, re.MULTILINE)
        if not m or re.search(r"^\s*(menuentry|blscfg)\b", text, re.MULTILINE):
            break
        target = re.sub(r"^\([^)]*\)", "", _expand(m.group(1).strip("'\""), env))
        found = next((p for p in (target, *GRUB_CONFIGS) if p and image.is_file(p)), None)
        if found is None:
            break
        tree, path, name = image.files, found, found
    image.tick()
    menus, bls = _parse_grub(text.splitlines(), env, lambda p: _env_file(image, p))
    default = env.get("default", "0")
    if default in ("saved", "${saved_entry}") or "saved_entry" in default:
        default = env.get("saved_entry", "0")
    if bls and not menus:
        return _grub_bls(image, env, default, name)
    chosen = _pick(menus, default)
    if chosen is None or not chosen.linux:
        raise OfflineError(f"{name}: no menu entry with a linux line")
    return BootEntry(
        loader="grub",
        config=name,
        kernel=chosen.linux,
        cmdline=" ".join([f"BOOT_IMAGE={chosen.linux}", *chosen.args]),
        tree=image.files,
        kernel_path=_find_kernel(image.files, chosen.linux),
    )


def _grub_bls(image: OfflineImage, env: Mapping[str, str], default: str, name: str) -> BootEntry:
    entries = "/boot/loader/entries"
    found = [p.rsplit("/", 1)[1] for p in image.glob(f"{entries}/*.conf") if image.is_file(p)]
    if not found:
        raise OfflineError(f"{name} calls blscfg but {entries} has no entries")
    ordered = _bls_sorted(found)
    chosen = next((n for n in ordered if n[:-5] == default), ordered[0])
    entry = _bls_entry(image.read_text(f"{entries}/{chosen}", 64 * 1024))
    kernel = (entry.get("linux") or [""])[0]
    if not kernel:
        raise OfflineError(f"{entries}/{chosen} has no linux line")
    options = _words(_expand(" ".join(entry.get("options", [])), env))
    return BootEntry(
        loader="grub",
        config=f"{entries}/{chosen}",
        kernel=kernel,
        cmdline=" ".join([f"BOOT_IMAGE={kernel}", *options]),
        tree=image.files,
        kernel_path=_find_kernel(image.files, kernel),
    )
