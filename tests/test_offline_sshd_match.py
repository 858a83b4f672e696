"""The offline sshd reading applies ``Match`` blocks as ``sshd -T -C`` does for the probe's
connection (issue 12: "sshd's effective configuration for a real connection: drop-ins, Match
blocks, first value wins").

Each configuration is judged twice: by this host's real OpenSSH sshd, run as the online probe
runs it (``sshd -T -C user=azureuser,host=client.invalid,addr=198.51.100.10``, plain ``-T`` when
sshd refuses the spec), and by :func:`checks.facts.sshd.effective_settings` on the same files.
The two must print the same values; a violating and a satisfying ClientAliveInterval are both
among them.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import pytest

from checks.facts.sshd import CONNECTION, effective_settings

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not Path(SSHD).is_file(), reason="OpenSSH sshd not installed")
KEYS = ("port", "clientaliveinterval", "clientalivecountmax", "permitrootlogin",
        "passwordauthentication")  # fmt: skip


class DirTree:
    """The sshd reading's view of real files (absolute paths of this host)."""

    def is_file(self, path: str) -> bool:
        return Path(path).is_file()

    def lines(self, path: str) -> list[str]:
        return Path(path).read_text().splitlines()

    def glob(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern))


# name -> (main config, {drop-in name: text}); "@D@" is the drop-in directory
CONFIGS = {
    "address block holds": (
        "ClientAliveInterval 120\nMatch Address 198.51.100.0/24\n  ClientAliveInterval 600\n",
        {},
    ),
    "address block does not": (
        "ClientAliveInterval 120\nMatch Address 10.0.0.0/8\n  ClientAliveInterval 600\n",
        {},
    ),
    "user block": (
        "ClientAliveInterval 120\nMatch User azureuser\n  ClientAliveInterval 3m\n"
        "  PermitRootLogin yes\n",
        {},
    ),
    "negated user": (
        "ClientAliveInterval 120\nMatch User !azureuser,*\n  ClientAliveInterval 5\n",
        {},
    ),
    "host, any case": (
        "Match Host *.INVALID\n  ClientAliveInterval 0\n  PasswordAuthentication no\n",
        {},
    ),
    "several criteria, one fails": (
        "ClientAliveInterval 120\n"
        "Match User azureuser Address 192.0.2.0/24\n"
        "  ClientAliveInterval 600\n",
        {},
    ),
    "group of an unknown user": (
        "ClientAliveInterval 120\nMatch Group root\n  ClientAliveInterval 600\n",
        {},
    ),
    "match all ends a block": (
        "Match User alice\n  ClientAliveInterval 5\nMatch all\n"
        "  ClientAliveInterval 90\n  ClientAliveCountMax 1\n",
        {},
    ),
    "first matching value wins": (
        "Match Address 198.51.100.10\n  ClientAliveInterval 200\n"
        "Match User azureuser\n  ClientAliveInterval 400\n",
        {},
    ),
    "drop-in Match ends with its file": (
        "Include @D@/*.conf\nClientAliveInterval 120\nPort 2222\n",
        {"10-user.conf": "Match User azureuser\n  ClientAliveInterval 60\n"},
    ),
    "include from an inactive block never matches": (
        "ClientAliveInterval 120\nMatch User alice\n  Include @D@/*.conf\n",
        {"20-all.conf": "Match all\n  ClientAliveInterval 7\n"},
    ),
    "include from a holding block": (
        "ClientAliveInterval 120\nMatch Address 198.51.100.*\n  Include @D@/*.conf\n",
        {"20-all.conf": "ClientAliveInterval 30\nMatch all\n  ClientAliveInterval 7\n"},
    ),
}


def _sshd_t(config: Path, key: Path) -> dict[str, str]:
    spec = ",".join(f"{k}={v}" for k, v in CONNECTION.items())
    base = [SSHD, "-f", str(config), "-h", str(key), "-T"]
    done = subprocess.run([*base, "-C", spec], capture_output=True, text=True)
    if done.returncode != 0:  # as the probe: `sshd -T -C ... || sshd -T`
        done = subprocess.run(base, capture_output=True, text=True, check=True)
    out: dict[str, str] = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(" ")
        if name in KEYS:
            out.setdefault(name, "without-password" if value == "prohibit-password" else value)
    return out


@pytest.fixture(scope="module")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("key") / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@pytest.mark.parametrize(("main", "drop_ins"), CONFIGS.values(), ids=CONFIGS)
def test_offline_match_equals_sshd_t_c(
    tmp_path: Path, host_key: Path, main: str, drop_ins: dict[str, str]
) -> None:
    drop_dir = tmp_path / "sshd_config.d"
    drop_dir.mkdir()
    for name, text in drop_ins.items():
        (drop_dir / name).write_text(text)
    config = tmp_path / "sshd_config"
    config.write_text(main.replace("@D@", str(drop_dir)))
    expected = _sshd_t(config, host_key)
    assert set(expected) == set(KEYS)
    assert effective_settings(DirTree(), main=str(config)) == expected


def test_a_match_block_decides_the_verdict(tmp_path: Path, host_key: Path) -> None:
    """The same file passes globally and fails for a customer's connection."""
    from checks.facts.sshd import parse
    from tests.test_checks_units import run

    config = tmp_path / "sshd_config"
    config.write_text("ClientAliveInterval 120\nMatch Address 198.51.100.0/24\n"
                      "  ClientAliveInterval 600\n")  # fmt: skip
    values = effective_settings(DirTree(), main=str(config))
    text = "### effective\n" + "".join(f"{k} {v}\n" for k, v in values.items())
    assert parse(text).client_alive_interval == 600
    assert run("ssh_client_alive_interval", {"sshd": text}).status.value == "fail"
    config.write_text(
        "ClientAliveInterval 120\nMatch Address 10.0.0.0/8\n  ClientAliveInterval 600\n"
    )
    values = effective_settings(DirTree(), main=str(config))
    text = "### effective\n" + "".join(f"{k} {v}\n" for k, v in values.items())
    assert run("ssh_client_alive_interval", {"sshd": text}).status.value == "pass"


def test_a_bad_match_line_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "sshd_config"
    config.write_text("Match Colour blue\n  ClientAliveInterval 5\n")
    with pytest.raises(ValueError, match="unsupported Match attribute colour"):
        effective_settings(DirTree(), main=str(config))
