"""The offline sshd reading applies ``Match`` blocks as ``sshd -T -C`` does for the probe's
connection (issue 12: "sshd's effective configuration for a real connection: drop-ins, Match
blocks, first value wins").

Each configuration is judged twice: by this host's real OpenSSH sshd, run as the online probe
runs it (``sshd -T -C user=azureuser,host=client.invalid,addr=198.51.100.10,laddr=10.0.0.4,
lport=22``, plain ``-T`` when sshd refuses the spec), and by
:func:`checks.facts.sshd.effective_settings` on the same files. The two must print the same
values; a violating and a satisfying ClientAliveInterval are both among them. ``Match Group``
is judged against a group database of the test's own: the real sshd runs in a private mount
namespace with it bound over ``/etc/passwd`` and ``/etc/group`` (sshd resolves groups through
NSS), the offline reading gets the same two files as the image's.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from checks.facts.sshd import SPEC, effective_settings, release_in, user_groups

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not Path(SSHD).is_file(), reason="OpenSSH sshd not installed")
HOST_RELEASE = release_in(Path(SSHD).read_bytes()) if Path(SSHD).is_file() else None
"""This host's sshd's ``SSH_RELEASE``: the offline reading reads its Match syntax."""
KEYS = (
    "port",
    "clientaliveinterval",
    "clientalivecountmax",
    "permitrootlogin",
    "passwordauthentication",
)


class DirTree:
    """The sshd reading's view of real files (absolute paths of this host), some replaced."""

    def __init__(self, replaced: dict[str, Path] | None = None) -> None:
        self.replaced = replaced or {}

    def is_file(self, path: str) -> bool:
        return self.replaced.get(path, Path(path)).is_file()

    def lines(self, path: str) -> list[str]:
        return self.replaced.get(path, Path(path)).read_text().splitlines()

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
    "local port holds": (
        "ClientAliveInterval 120\nMatch LocalPort 22\n  ClientAliveInterval 600\n",
        {},
    ),
    "local port by service name": (
        "ClientAliveInterval 120\nMatch LocalPort ssh\n  PermitRootLogin yes\n",
        {},
    ),
    "local port does not": (
        "Port 2222\nMatch LocalPort 2222\n  ClientAliveInterval 600\n",
        {},
    ),
    "local address network": (
        "Match LocalAddress 10.0.0.0/24\n  ClientAliveInterval 300\n  ClientAliveCountMax 9\n",
        {},
    ),
    "local address negated": (
        "ClientAliveInterval 120\nMatch LocalAddress !10.0.0.4,10.*\n  ClientAliveInterval 5\n",
        {},
    ),
    "rdomain never holds": (
        "ClientAliveInterval 120\nMatch RDomain *\n  ClientAliveInterval 600\n",
        {},
    ),
    "host negated": (
        "Match Host !CLIENT.*,*\n  PasswordAuthentication no\n",
        {},
    ),
    "every criterion holds": (
        "ClientAliveInterval 120\nMatch User azure* Host client.invalid Address 198.51.100.10 "
        "LocalAddress 10.0.0.4 LocalPort 22\n  ClientAliveInterval 45\n",
        {},
    ),
    "local port block in a drop-in": (
        "Include @D@/*.conf\nClientAliveInterval 120\n",
        {"50-port.conf": "Match LocalPort 22 LocalAddress 10.0.0.0/8\n  ClientAliveInterval 0\n"},
    ),
}

# The image's own accounts, appended to this host's (sshd needs its privilege separation user):
# azureuser's primary group 5000 and supplementary groups as the cases need.
PASSWD = "azureuser:x:5000:5000::/home/azureuser:/bin/bash\n"
GROUPS = {
    "primary group": ("azureuser:x:5000:\n", "Group azure*", True),
    "supplementary member": (
        "azureuser:x:5000:\nadmins:x:5001:alice,azureuser\n",
        "Group wheel,admins",
        True,
    ),
    "a negated group refuses": (
        "azureuser:x:5000:\nadmins:x:5001:azureuser\n",
        "Group *,!admins",
        False,
    ),
    "not a member": ("azureuser:x:5000:\nadmins:x:5001:alice\n", "Group admins", False),
    "primary gid has no entry": ("", "Group *", False),
    "a gid is named by its first entry": (
        "azureuser:x:5000:\nfirst:x:5002:azureuser\nsecond:x:5002:\n",
        "Group second",
        False,
    ),
    "first entry's name matches": (
        "azureuser:x:5000:\nfirst:x:5002:azureuser\nsecond:x:5002:\n",
        "Group first",
        True,
    ),
}


def _sshd_t(config: Path, key: Path, databases: tuple[Path, Path] | None = None) -> dict[str, str]:
    base = [SSHD, "-f", str(config), "-h", str(key), "-T"]
    if databases is not None:  # sshd reads these through NSS: bind them over the host's
        user_ns = ["--map-root-user"] if os.geteuid() else []
        bind = 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && "$@"'
        base = ["unshare", "--mount", *user_ns, "sh", "-c", bind, "sh", *map(str, databases), *base]
    done = subprocess.run([*base, "-C", SPEC], capture_output=True, text=True)
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
    assert effective_settings(DirTree(), main=str(config), release=HOST_RELEASE) == expected


def test_the_host_release_is_what_ssh_prints() -> None:
    """The release string read from the binary is the one ``ssh -V`` prints (same package)."""
    version = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=True).stderr
    assert HOST_RELEASE is not None and version.startswith(HOST_RELEASE + ",")


def test_the_probes_ask_about_the_same_connection() -> None:
    """The online probes pass sshd the spec the offline reading evaluates, without sshd 9.9's
    ``invalid-user`` key (the provisioned admin user is valid)."""
    facts = Path(__file__).parent.parent / "checks" / "facts"
    for probe in ("sshd.sh", "accounts.sh"):
        text = (facts / probe).read_text()
        assert f"-T -C {SPEC} " in text
        assert "-C invalid-user" not in text


@pytest.mark.parametrize(("groups", "match", "holds"), GROUPS.values(), ids=GROUPS)
def test_offline_group_equals_sshd_t_c(
    tmp_path: Path, host_key: Path, groups: str, match: str, holds: bool
) -> None:
    """``Match Group`` as sshd resolves it, through the image's passwd and group files."""
    passwd, group = tmp_path / "passwd", tmp_path / "group"
    passwd.write_text(Path("/etc/passwd").read_text() + PASSWD)
    group.write_text(Path("/etc/group").read_text() + groups)
    config = tmp_path / "sshd_config"
    config.write_text(f"ClientAliveInterval 120\nMatch {match}\n  ClientAliveInterval 600\n")
    expected = _sshd_t(config, host_key, (passwd, group))
    assert expected["clientaliveinterval"] == ("600" if holds else "120")
    tree = DirTree({"/etc/passwd": passwd, "/etc/group": group})
    assert effective_settings(tree, main=str(config), release=HOST_RELEASE) == expected


def test_group_membership_from_the_image_files(tmp_path: Path) -> None:
    passwd, group = tmp_path / "passwd", tmp_path / "group"
    passwd.write_text("root:x:0:0::/root:/bin/sh\n" + PASSWD)
    group.write_text("root:x:0:\nadm:x:4:syslog,azureuser\nazureuser:x:5000:\nalias:x:5000:\n")
    tree = DirTree({"/etc/passwd": passwd, "/etc/group": group})
    assert user_groups(tree, "azureuser") == ["azureuser", "adm"]
    assert user_groups(tree, "nobody-here") is None


def test_a_match_block_decides_the_verdict(tmp_path: Path, host_key: Path) -> None:
    """The same file passes globally and fails for a customer's connection."""
    from checks.facts.sshd import parse
    from tests.test_checks_units import run

    config = tmp_path / "sshd_config"
    config.write_text(
        "ClientAliveInterval 120\nMatch Address 198.51.100.0/24\n  ClientAliveInterval 600\n"
    )
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


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ("LocalPort nosuchservice", "invalid Match LocalPort"),
        ("LocalAddress 10.0.0.0/33", "invalid Match address"),
    ],
)
def test_a_bad_local_criterion_stops_sshd_and_the_reading(
    tmp_path: Path, host_key: Path, condition: str, error: str
) -> None:
    """sshd refuses these even in an inactive file and for no connection; so does the reading."""
    config = tmp_path / "sshd_config"
    config.write_text(f"Match User alice\n  ClientAliveInterval 5\nMatch {condition}\n")
    base = [SSHD, "-f", str(config), "-h", str(host_key), "-T"]
    assert subprocess.run(base, capture_output=True).returncode != 0
    with pytest.raises(ValueError, match=error):
        effective_settings(DirTree(), main=str(config))
