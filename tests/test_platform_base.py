"""Platform.booted and Machine.destroy semantics (a minimal in-process platform, no VM)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from harness.platforms.base import BootContext, Machine, Platform
from harness.platforms.options import PlatformOptions
from images.candidate import Candidate


class _Recorder(Platform):
    """Hands out machines whose teardown is recorded (stands in for a VM's teardown)."""

    name = "recorder"
    options_type = PlatformOptions

    def __init__(self) -> None:
        self.teardowns = 0

    def boot(
        self, candidate: Candidate | None, options: PlatformOptions, context: BootContext
    ) -> Machine:
        def teardown() -> None:
            self.teardowns += 1

        return Machine(host="127.0.0.1", port=22, user="u", _teardown=teardown)


def test_booted_destroys_once_on_success_and_error() -> None:
    platform = _Recorder()
    with platform.booted(None) as machine:
        machine.destroy()  # an explicit destroy inside the block ...
    assert platform.teardowns == 1  # ... is not repeated by booted()
    with pytest.raises(RuntimeError), platform.booted(None):
        raise RuntimeError("check blew up")
    assert platform.teardowns == 2
    with pytest.raises(KeyboardInterrupt), platform.booted(None):
        raise KeyboardInterrupt
    assert platform.teardowns == 3


def test_keep_leaves_machine_and_tells_how_to_reach_it() -> None:
    platform = _Recorder()
    notes: list[str] = []
    with platform.booted(None, context=BootContext(keep=True, notify=notes.append)) as machine:
        machine.key_path = Path("/run/key")
        machine.port = 40022
    assert platform.teardowns == 0
    told = "\n".join(notes)  # the platform tells its caller; only the CLI prints
    assert "ssh -p 40022 -i /run/key" in told and "u@127.0.0.1" in told


def test_signals_held_during_teardown() -> None:
    seen: list[str] = []

    def teardown() -> None:
        signal.raise_signal(signal.SIGINT)  # arrives mid-teardown ...
        seen.append("teardown finished")

    machine = Machine(host="h", port=22, user="u", _teardown=teardown)
    with pytest.raises(KeyboardInterrupt):
        machine.destroy()
    assert seen == ["teardown finished"]  # ... and is delivered only after it
