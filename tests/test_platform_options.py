"""Per-platform options: flags, the ``[platform.NAME]`` config table, and their precedence."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.config import CONFIG_ENV, Config, default_config_path, load_config
from harness.errors import ConfigError, InputError
from harness.platforms import PLATFORMS, load_builtin_platforms, platform_options
from harness.platforms.options import (
    PlatformOptions,
    Secret,
    expect_options,
    option,
    option_fields,
)
from harness.platforms.qemu import QemuOptions, QemuPlatform
from harness.platforms.ssh import SshOptions, SshPlatform


def _config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "vmcert.toml"
    path.write_text(text)
    return load_config(path)


def test_builtins_are_discovered_with_their_own_options() -> None:
    builtins = load_builtin_platforms()
    assert {QemuPlatform, SshPlatform} <= set(builtins)
    assert PLATFORMS.get("qemu").options_type is QemuOptions
    assert PLATFORMS.get("ssh").options_type is SshOptions
    # no shared options type: neither platform's options know the other's flags
    qemu_flags = {item.flag for item in option_fields(QemuOptions)}
    ssh_flags = {item.flag for item in option_fields(SshOptions)}
    assert {"accel", "gen", "memory", "cpus", "timeout", "provision"} == qemu_flags
    assert {"host", "port", "user", "key", "password", "known-hosts", "timeout"} == ssh_flags


def test_cli_values_over_config_over_defaults(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        '[platform.ssh]\nhost = "10.0.0.5"\nuser = "azureuser"\nkey = "keys/id"\nport = 2222\n',
    )
    options = platform_options("ssh", {"host": "127.0.0.1"}, config)
    assert isinstance(options, SshOptions)
    assert options.host == "127.0.0.1"  # the flag wins
    assert options.user == "azureuser" and options.port == 2222  # the file supplies the rest
    assert options.key == tmp_path / "keys" / "id"  # relative to the config file
    assert options.known_hosts is None and options.password is None  # defaults
    assert platform_options("qemu", {}, config) == QemuOptions()  # other tables are not mixed in


def test_qemu_options_from_flags_and_file(tmp_path: Path) -> None:
    config = _config(tmp_path, "[platform.qemu]\ngen = 2\nmemory = 2048\ntimeout = 600\n")
    options = platform_options("qemu", {"cpus": 4, "accel": "tcg"}, config)
    assert options == QemuOptions(
        accel="tcg", generation=2, memory_mib=2048, cpus=4, boot_timeout=600.0
    )


def test_flag_of_another_platform_names_its_owner() -> None:
    with pytest.raises(InputError) as info:
        platform_options("qemu", {"host": "10.0.0.5"}, Config())
    message = str(info.value)
    assert "--host belongs to the ssh platform, not qemu" in message and "\n" not in message
    with pytest.raises(InputError, match="--gen belongs to the qemu platform, not ssh"):
        platform_options("ssh", {"gen": 2}, Config())


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ("[platform.ssh]\nhostname = 'x'\n", r"unknown key 'hostname' in \[platform.ssh\] of .*"),
        ("[platform.ssh]\nport = '22'\n", r"key 'port' in \[platform.ssh\] .*must be an integer"),
        ("[platform.qemu]\ngen = 3\n", r"key 'gen' .*must be one of 1, 2"),
        ("[platform.qemu]\nmemory = 16\n", r"key 'memory' .*at least 128"),
        ("[platform.ssh]\npassword = 'hunter2'\n", r"key 'password' .*VMCERT_SSH_PASSWORD"),
    ],
)
def test_config_errors_name_file_key_and_fix(tmp_path: Path, table: str, error: str) -> None:
    config = _config(tmp_path, table)
    name = "ssh" if "platform.ssh" in table else "qemu"
    with pytest.raises(ConfigError, match=error) as info:
        platform_options(name, {}, config)
    assert str(config.path) in str(info.value)
    assert "hunter2" not in str(info.value)  # a secret written in the file is never echoed


def test_config_file_shape_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        _config(tmp_path, "[platform.ssh\n")
    with pytest.raises(ConfigError, match="unknown section 'plattform'"):
        _config(tmp_path, "[plattform.ssh]\nhost = 'x'\n")
    with pytest.raises(ConfigError, match=r"platform.ssh must be a table"):
        _config(tmp_path, "[platform]\nssh = 1\n")


def test_config_path_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert default_config_path() is None
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "c.toml"))
    assert default_config_path() == tmp_path / "c.toml"


def test_secret_is_read_late_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VMCERT_SSH_PASSWORD", raising=False)
    options = platform_options("ssh", {"password": True}, Config())
    assert isinstance(options, SshOptions) and options.password is not None
    with pytest.raises(InputError, match=r"\$VMCERT_SSH_PASSWORD"):
        options.password.reveal()
    monkeypatch.setenv("VMCERT_SSH_PASSWORD", "s3cret-pw")
    assert options.password.reveal() == "s3cret-pw"
    assert "s3cret-pw" not in repr(options)
    asked: list[str] = []
    prompted = Secret(env="VMCERT_UNSET_VAR", prompt=lambda: asked.append("?") or "typed")
    assert prompted.reveal() == "typed" and prompted.reveal() == "typed" and asked == ["?"]


def test_options_must_be_declared_and_typed() -> None:
    @dataclass(frozen=True)
    class Loose(PlatformOptions):
        size: int = 3

    with pytest.raises(TypeError, match="not declared with option"):
        option_fields(Loose)

    @dataclass(frozen=True)
    class Odd(PlatformOptions):
        sizes: tuple[int, ...] = option((), help="x")

    with pytest.raises(TypeError, match="unsupported option type"):
        option_fields(Odd)
    with pytest.raises(InputError, match="takes SshOptions, not QemuOptions"):
        expect_options(QemuOptions(), SshOptions, "ssh")


def test_cli_flag_of_another_platform_is_a_one_line_usage_error(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(b"\0" * 4096)
    proc = subprocess.run(
        ["vmcert", "boot", "--host", "10.0.0.5", str(image)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "vmcert: error: --host belongs to the ssh platform, not qemu; "
        "use --platform ssh or drop --host\n"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("[platform.qemu]\nmemroy = 2048\n")
    proc = subprocess.run(
        ["vmcert", "boot", "--config", str(bad), str(image)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"unknown key 'memroy' in [platform.qemu] of {bad}" in proc.stderr
    assert "memory" in proc.stderr  # the known keys show the fix


def test_help_lists_each_flag_with_its_platform() -> None:
    proc = subprocess.run(["vmcert", "boot", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for flag in ("--host", "--key", "--gen", "--memory", "--config", "--known-hosts"):
        assert flag in text
    assert "[ssh] Host name or address" in text and "[qemu] MiB of guest RAM" in text
    assert "[default: 1024]" in text
