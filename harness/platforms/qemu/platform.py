"""The ``qemu`` platform: boot a candidate locally under QEMU and reach it over SSH.

Recipe (local-boot.md §3, pycloudlib's QEMU cloud): KVM only when a probe boot works
(``harness.accel``), else TCG with scaled timeouts; the generation and QEMU driver come from the
:class:`~images.candidate.Candidate` (the option overrides the generation); an ephemeral ed25519
key reaches the guest through a NoCloud ``cidata`` seed that creates the user ``vmcert`` with
passwordless sudo; the command line is :mod:`~harness.platforms.qemu.cmdline`; the console is
followed by :mod:`~harness.platforms.qemu.serial`; teardown always (``QemuRun.teardown``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from harness.accel import OVMF_CODE, OVMF_VARS, QEMU, Accel, choose_accel
from harness.azure_emulator import keeper
from harness.errors import InfraError, InputError, Interrupted
from harness.keys import generate_keypair
from harness.platforms.base import (
    DEFAULT_BOOT_TIMEOUT,
    Bootable,
    BootContext,
    BootError,
    Fallback,
    Footprint,
    Platform,
)
from harness.platforms.options import PlatformOptions, expect_options
from harness.platforms.qemu.cmdline import RunFiles, generation, overlay_argv, qemu_argv
from harness.platforms.qemu.machine import QemuMachine, QemuRun
from harness.platforms.qemu.options import QemuOptions
from harness.platforms.qemu.provision import AzureProvisioning, check_nocloud, nocloud_fallback
from harness.platforms.qemu.serial import SerialWatcher, fatal_reason
from harness.seed import SEED_USER, build_seed_iso
from harness.ssh import NOTE_EPHEMERAL, wait_for_ssh

FOOTPRINT = (
    f"user {SEED_USER} created by cloud-init from a NoCloud seed (cidata ISO) with an ephemeral "
    "ed25519 key and NOPASSWD sudo",
    "cloud-init told to make only an ed25519 host key and not to grow the disk",
    "the seed host name added to /etc/hosts (127.0.1.1), as Azure's DNS resolves a VM's name",
    "the guest writes only to a throwaway overlay",
)
"""What a QEMU boot adds to the guest (the checks discount it)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGKILL QEMU if the harness dies without tearing down."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _pause(phase: str, notify: Callable[[str], None]) -> None:
    """Test hook: ``VMCERT_TEST_PAUSE=<phase>:<seconds>`` sleeps at a phase boundary.

    The interrupt tests use it to deliver SIGINT at a known phase; it does nothing otherwise.
    """
    spec = os.environ.get("VMCERT_TEST_PAUSE", "")
    name, _, seconds = spec.partition(":")
    if name == phase and seconds:
        notify(f"test pause at {phase} for {seconds} s")
        time.sleep(float(seconds))


def check_alive(run: QemuRun, cancel: threading.Event | None = None) -> None:
    """Raise :class:`BootError` when QEMU died or the console shows a fatal boot error,
    :class:`Interrupted` when ``cancel`` is set (the caller's run is being interrupted)."""
    if cancel is not None and cancel.is_set():
        raise Interrupted("boot abandoned: the run is being interrupted")
    tail = run.watcher.tail() if run.watcher else []
    proc = run.process
    if proc is not None and proc.poll() is not None:
        errors = run.qemu_stderr().strip().splitlines()
        detail = errors[-1] if errors else "no message"
        if any("KVM internal error" in line for line in errors):
            detail = "KVM internal error (emulation failure); try --accel tcg"
        raise BootError(f"QEMU exited with code {proc.returncode}: {detail}", tail)
    if "KVM internal error" in run.qemu_stderr():
        raise BootError("KVM internal error (emulation failure); try --accel tcg", tail)
    for watcher in (run.watcher, run.firmware):
        if watcher is None:
            continue
        meaning = fatal_reason(line for _, line in watcher.snapshot())
        if meaning is not None:
            raise BootError(f"boot failed: {meaning}", tail or watcher.tail())


class QemuPlatform(Platform):
    """Boots images locally under QEMU (KVM when usable, else TCG).

    QEMU is started with ``PR_SET_PDEATHSIG`` (unless ``keep``) so that it dies with the harness
    even on ``kill -9``; the kernel ties that to the *thread* that booted, so boot from a thread
    that outlives the machine (the main thread, or the worker that also destroys it).
    """

    name = "qemu"
    options_type = QemuOptions

    def fallback(self, options: PlatformOptions) -> Fallback | None:
        """After a failed ``--provision azure``: the same image with NoCloud."""
        return nocloud_fallback(expect_options(options, QemuOptions, self.name))

    def boot(
        self, candidate: Bootable | None, options: PlatformOptions, context: BootContext
    ) -> QemuMachine:
        opts = expect_options(options, QemuOptions, self.name)
        if candidate is None:
            raise InputError("the qemu platform needs an image file")
        candidate.require_bootable()
        if shutil.which(QEMU) is None:
            raise InfraError(f"{QEMU} not found; install qemu-system-x86 (scripts/install.sh)")
        if opts.generation not in (None, 1, 2):
            raise InputError(f"generation must be 1 or 2, not {opts.generation}")
        run = _make_run(context)
        try:
            return _boot(candidate, opts, context, run)
        except BaseException:
            # Anything (including KeyboardInterrupt/Interrupted) before the machine is handed
            # over: nothing may stay behind.
            run.teardown()
            raise


def _make_run(context: BootContext) -> QemuRun:
    if context.run_dir is not None:
        context.run_dir.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix="qemu-", dir=context.run_dir))
    else:
        directory = Path(tempfile.mkdtemp(prefix="vmcert-qemu-"))
    qmp_dir = None
    # AF_UNIX paths are limited to 107 bytes; a deep run dir gets a short socket dir.
    if len(str(directory / "qmp.sock")) > 100:
        qmp_dir = Path(tempfile.mkdtemp(prefix="vmcert-qmp-"))
    files = RunFiles.under(directory, qmp_dir)
    return QemuRun(files, True, serial_log_to=context.serial_log_to, qmp_dir=qmp_dir)


def _boot(
    candidate: Bootable, options: QemuOptions, context: BootContext, run: QemuRun
) -> QemuMachine:
    started_prepare = time.monotonic()
    gen = generation(options, candidate)
    accel = choose_accel(options.accel)
    if accel.name == "tcg" and options.accel == "auto":
        context.notify(accel.reason)
    files = run.files
    proc = subprocess.run(
        overlay_argv(candidate, files), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(
            f"cannot use image {candidate.path} as a {candidate.qemu_driver} backing file: {detail}"
        )
    azure: AzureProvisioning | None = None
    if options.provision == "azure":
        azure = AzureProvisioning.start(files.directory, accel.timeout_scale)
        run.emulator = azure.emulator  # stopped by the run's teardown, on every exit path
        keys, user = azure.keys, azure.user
    else:
        keys = generate_keypair(files.directory, comment=f"vmcert-{files.directory.name}")
        build_seed_iso(files.directory, keys.public_line, f"vmcert-{uuid.uuid4()}")
        user = SEED_USER
    if gen == 2:
        if not OVMF_CODE.exists():
            raise InfraError(f"UEFI firmware {OVMF_CODE} missing; install ovmf")
        shutil.copyfile(OVMF_VARS, files.ovmf_vars)
    prepare_s = time.monotonic() - started_prepare
    _pause("before-qemu", context.notify)

    timeout = options.boot_timeout
    if timeout is None:
        timeout = DEFAULT_BOOT_TIMEOUT * accel.timeout_scale
    port = _start(candidate, options, context, accel, run, azure)
    context.notify(
        f"QEMU started (pid {run.process.pid if run.process else '?'}, {accel.name}, "
        f"gen {gen}, {candidate.qemu_driver}); waiting up to {timeout:.0f} s for SSH on "
        f"127.0.0.1:{port}" + (" as the Azure-provisioned user" if azure else "")
    )

    def still_booting() -> None:
        check_alive(run, context.cancel)
        if azure is not None:
            azure.check(run)  # the guest gave up provisioning: fail now, not at the timeout
        else:
            check_nocloud(run)  # the image ignores the seed: no way in, say so now

    _pause("waiting-for-ssh", context.notify)
    try:
        session = wait_for_ssh(
            "127.0.0.1",
            port,
            user,
            key_path=keys.private_path,
            timeout=timeout,
            check=still_booting,
        )
    except BootError:
        raise
    except InfraError as exc:  # timed out: say so with what the console showed
        tail = run.watcher.tail() if run.watcher else []
        if azure is not None:  # provisioning's verdict, with what the emulator saw
            raise azure.timed_out(run, str(exc), tail) from None
        raise BootError(str(exc), tail) from None
    ready = time.monotonic() - run.started
    first_key = session.host_key_fingerprint
    qemu_pid = run.process.pid if run.process else 0
    stop_hint = f"kill {qemu_pid}; rm -rf {shlex.quote(str(files.directory))}"
    if azure is not None and context.keep:
        # the guest's network runs through the emulator: it must outlive this process
        run.keeper = keeper.spawn(azure.emulator, qemu_pid)
        # a shell comment: the hint must still run when pasted into a shell
        stop_hint += f"  # the Azure emulator (pid {run.keeper.pid}) stops when QEMU exits"
    facts = {
        "platform": QemuPlatform.name,
        "accel": accel.name,
        "accel_reason": accel.reason,
        "generation": str(gen),
        "image_format": candidate.qemu_driver,
        "firmware": "OVMF (UEFI)" if gen == 2 else "SeaBIOS",
        "memory_mib": str(options.memory_mib),
        "cpus": str(options.cpus),
        "prepare_s": f"{prepare_s:.2f}",
        "qemu_start_to_ssh_s": f"{ready:.2f}",
        "ssh_attempts": str(session.attempts),
        "ssh_handshake_s": f"{session.handshake_seconds:.2f}",
        "host_key_note": NOTE_EPHEMERAL,
        "host_key_fingerprint": first_key or "",
        "qemu_pid": str(qemu_pid),
        "run_dir": str(files.directory),
        "stop_hint": stop_hint if context.keep else "",
        **(azure.facts(run) if azure else {"provision": "nocloud"}),
    }
    machine = QemuMachine(
        host="127.0.0.1",
        port=port,
        user=user,
        key_path=keys.private_path,
        serial_log=files.serial_log,
        facts=facts,
        host_keys=None,
        timeout_scale=accel.timeout_scale,
        footprint=Footprint(login_user=user, added=azure.footprint() if azure else FOOTPRINT),
        _teardown=run.teardown,
        run=run,
        first_key=first_key,
        _ready=session,
    )
    machine.refresh_host_key_pin()
    return machine


def _start(
    candidate: Bootable,
    options: QemuOptions,
    context: BootContext,
    accel: Accel,
    run: QemuRun,
    azure: AzureProvisioning | None = None,
) -> int:
    """Start QEMU with a forward on a free port; returns the port."""
    files = run.files
    # The port can be taken between free_port() and QEMU's bind: retry with another one.
    for _attempt in range(3):
        port = free_port()
        fragments = azure.qemu_arguments(accel.name, port) if azure else None
        command = qemu_argv(options, candidate, accel, files, port, fragments)
        (files.directory / "qemu.cmdline").write_text(" ".join(command) + "\n")
        run.stderr_path = files.directory / "qemu.stderr"
        with run.stderr_path.open("wb") as err:
            run.started = time.monotonic()
            run.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,  # a terminal Ctrl-C reaches us, not QEMU directly
                preexec_fn=None if context.keep else _die_with_parent,
            )
        if run.watcher is None:
            run.watcher = SerialWatcher(files.serial_log, run.started, context.console_echo)
            run.watcher.start()
            if generation(options, candidate) == 1:
                run.firmware = SerialWatcher(files.firmware_log, run.started, False)
                run.firmware.start()
        else:
            run.watcher.origin = run.started
        # A forward that cannot bind makes QEMU exit at once.
        time.sleep(0.2)
        if run.process.poll() is not None and "hostfwd" in run.qemu_stderr().lower():
            continue
        return port
    check_alive(run)
    raise InfraError("QEMU could not bind a host port for the SSH forward after 3 attempts")
