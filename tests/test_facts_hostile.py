"""The parsers of the kernel, packages and online-disk facts are total: whatever text a probe
returns (cut short by the output cap, garbled, hostile), ``parse`` gives the fact's dataclass or
raises ValueError, which :meth:`checks.fact.Facts.from_texts` turns into an error of that fact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.facts import (
    block_devices,
    bootloader_config,
    cmdline,
    glibc,
    initramfs_modules,
    modprobe_blacklist,
    openssl,
    os_release,
    python,
    repos,
    swap,
    uname,
)

RECORDED = Path(__file__).parent / "fixtures" / "probe_outputs"

PARSERS: dict[str, tuple[Callable[[str], object], type]] = {
    "uname": (uname.parse, uname.Uname),
    "cmdline": (cmdline.parse, cmdline.Cmdline),
    "bootloader_config": (bootloader_config.parse, bootloader_config.BootloaderConfig),
    "initramfs_modules": (initramfs_modules.parse, initramfs_modules.InitramfsModules),
    "modprobe_blacklist": (modprobe_blacklist.parse, modprobe_blacklist.ModprobeBlacklist),
    "os_release": (os_release.parse, os_release.OsRelease),
    "glibc": (glibc.parse, glibc.Glibc),
    "openssl": (openssl.parse, openssl.Openssl),
    "python": (python.parse, python.Python),
    "repos": (repos.parse, repos.Repos),
    "block_devices": (block_devices.parse, block_devices.BlockDevices),
    "swap": (swap.parse, swap.Swap),
}
NAMES = sorted(PARSERS)
SAMPLES = {name: [p.read_text() for p in sorted(RECORDED.glob(f"*/{name}.txt"))] for name in NAMES}
# what the probes' formats are made of: section headers, key=value, quotes, brackets, URLs
TOKENS = ["### ", "### lsblk\n", "### active\n", "=", '"', "'", "[", "]", ":", "\n", "\r", " ",
          "\x00", "http://[", "deb ", "URIs: ", "Suites: ", "package=", "NAME=", "Python 2.",
          "OpenSSL 1.", "enabled=0", "\u2028", "9" * 40]  # fmt: skip


def parses_or_rejects(name: str, text: str) -> None:
    parse, kind = PARSERS[name]
    try:
        value = parse(text)
    except ValueError:
        return
    assert isinstance(value, kind), (name, text)


def test_the_parsers_here_are_the_facts_parsers() -> None:
    for name, (parse, _) in PARSERS.items():
        module = globals()[name]
        assert module.FACT.name == name and module.FACT.parse is parse
    assert all(SAMPLES[name] for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_truncation_of_a_recorded_output(name: str) -> None:
    """The output cap can cut a text anywhere."""
    for text in SAMPLES[name]:
        for end in range(len(text) + 1):
            parses_or_rejects(name, text[:end])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), text=st.text())
def test_any_text(name: str, text: str) -> None:
    parses_or_rejects(name, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), data=st.data())
def test_recorded_outputs_garbled(name: str, data: st.DataObject) -> None:
    """A recorded output with probe-format tokens inserted, lines dropped, or mixed with another
    fact's output."""
    text = data.draw(st.sampled_from(SAMPLES[name]))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "drop_line", "splice"]))
        if action == "insert":
            text = text[:at] + data.draw(st.sampled_from(TOKENS)) + text[at:]
        elif action == "drop_line":
            lines = text.splitlines(keepends=True)
            if lines:
                del lines[data.draw(st.integers(0, len(lines) - 1))]
            text = "".join(lines)
        else:
            other = data.draw(st.sampled_from([s for n in NAMES for s in SAMPLES[n]]))
            text = text[:at] + other[data.draw(st.integers(0, len(other))) :]
    parses_or_rejects(name, text)
