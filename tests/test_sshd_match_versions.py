"""The Match forms of OpenSSH releases after this host's 9.2, read as each release's sshd reads
them (issue 12: "judge a setting the way the program that consumes it reads it").

Where this host's sshd (Debian 12, OpenSSH 9.2) can judge, it does: the real ``sshd -T -C``. The
newer forms are tested from the documented source, openssh-portable's ``servconf.c``
``match_cfg_line`` at the release tags (commits cited per test):

- 9.9 (tag V_9_9_P1): Match lines tokenised by ``argv_split`` (acad117e6), so ``User=alice`` is
  one word and refused; ``Invalid-User`` (0118a4da2), which in 9.9 also held in the start-up
  parse when nothing else on its line failed (V_9_9_P1 servconf.c 1072-1080: ``if (ci == NULL)
  continue;``).
- 10.0 (tag V_10_0_P1): ``attribute=value`` (3f02368e8, servconf.c 1094-1103); ``Version``, a
  pattern list against ``SSH_RELEASE`` evaluated in both parses (9131ac64b, servconf.c
  1234-1240); ``Invalid-User`` no longer holds without a connection (af49d474e, 1081-1091).
- ``exec``, ``tagged``, ``command``, ``sessiontype``, ``localnetwork``, ``localuser``,
  ``originalhost``, ``canonical``, ``final`` are ssh_config (readconf.c) criteria only: sshd's
  ``match_cfg_line`` ends in "Unsupported Match attribute" for them, up to today's master.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from checks.facts.sshd import SPEC, effective_settings, release_version, sshd_release
from checks.offline.image import OfflineImage
from images.fs import open_filesystems
from tests.test_images_fs_support import MIB, mkfs, tool
from tests.test_offline_sshd_match import HOST_RELEASE, SSHD, DirTree, _sshd_t

V92 = "OpenSSH_9.2p1 Debian-2+deb12u10"
V99 = "OpenSSH_9.9p1"
V10 = "OpenSSH_10.0p2 Debian-5"


def _cai(tmp_path: Path, config: str, release: str | None, tree: DirTree | None = None) -> str:
    path = tmp_path / "sshd_config"
    path.write_text(config)
    values = effective_settings(tree or DirTree(), main=str(path), release=release)
    return values["clientaliveinterval"]


def _passwd(tmp_path: Path, *users: str) -> DirTree:
    passwd = tmp_path / "passwd"
    passwd.write_text(
        "root:x:0:0::/root:/bin/sh\n" + "".join(f"{u}:x:5000:5000::/h:/bin/sh\n" for u in users)
    )
    return DirTree({"/etc/passwd": passwd})


@pytest.fixture(scope="module")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("key") / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_release_versions() -> None:
    assert release_version(V10) == (10, 0)
    assert release_version("OpenSSH_9.2p1") == (9, 2)
    assert release_version(None) is None and release_version("dropbear_2022.83") is None


# -- what this host's real sshd (9.2) says -----------------------------------------------------

REAL_92 = {
    "attribute=value (strdelim splits at =)": "Match User=azureuser\n  ClientAliveInterval 600\n",
    "attribute = value": (
        "Match User = azureuser Address=198.51.100.0/24\n  ClientAliveInterval 600\n"
    ),
    "a comment ends the criteria": (
        "Match User azureuser #Address 10.0.0.0/8\n  ClientAliveInterval 600\n"
    ),
    "a # inside a word is no comment": "Match User azure#user\n  ClientAliveInterval 600\n",
}


@pytest.mark.parametrize("config", REAL_92.values(), ids=REAL_92)
def test_92_forms_equal_the_real_sshd(tmp_path: Path, host_key: Path, config: str) -> None:
    path = tmp_path / "sshd_config"
    path.write_text("ClientAliveInterval 120\n" + config)
    expected = _sshd_t(path, host_key)
    assert effective_settings(DirTree(), main=str(path), release=V92) == expected


@pytest.mark.parametrize(
    ("criteria", "error"),
    [
        ("invalid-user", "missing Match criteria for invalid-user"),
        ("Version OpenSSH_9*", "unsupported Match attribute version"),
        ("exec true", "unsupported Match attribute exec"),
        ("tagged x", "unsupported Match attribute tagged"),
        ("sessiontype shell", "unsupported Match attribute sessiontype"),
        ("command bash", "unsupported Match attribute command"),
    ],
)
def test_92_refuses_the_newer_and_the_client_criteria(
    tmp_path: Path, host_key: Path, criteria: str, error: str
) -> None:
    """As the installed 9.2 sshd does: a clear one-line error, not a verdict."""
    path = tmp_path / "sshd_config"
    path.write_text(f"ClientAliveInterval 120\nMatch {criteria}\n  ClientAliveInterval 600\n")
    real = subprocess.run([SSHD, "-f", str(path), "-h", str(host_key), "-T"], capture_output=True)
    assert real.returncode != 0 and b"Bad Match condition" in real.stderr
    with pytest.raises(ValueError, match=f"^{re.escape(error)}$"):
        effective_settings(DirTree(), main=str(path), release=V92)


def test_the_invalid_user_spec_key_is_refused_by_92(tmp_path: Path, host_key: Path) -> None:
    """One reason the probes never pass the key (sshd.sh, accounts.sh): older sshd refuse it."""
    path = tmp_path / "sshd_config"
    path.write_text("ClientAliveInterval 120\n")
    done = subprocess.run(
        [SSHD, "-f", str(path), "-h", str(host_key), "-T", "-C", f"invalid-user,{SPEC}"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "Invalid test mode specification invalid-user" in done.stderr


# -- 9.9 and 10.x, from servconf.c ---------------------------------------------------------------


@pytest.mark.parametrize("release", [V99, V10, None])
def test_invalid_user_never_holds_for_the_provisioned_login(
    tmp_path: Path, release: str | None
) -> None:
    """The judged login is the admin user provisioning creates: valid, though the shipped image
    has no passwd entry for it yet. The criterion parses (a 9.2 refuses it: above)."""
    config = "ClientAliveInterval 120\nMatch Invalid-User\n  ClientAliveInterval 600\n"
    assert _cai(tmp_path, config, release, _passwd(tmp_path)) == "120"
    assert _cai(tmp_path, config, release, _passwd(tmp_path, "azureuser")) == "120"
    both = "ClientAliveInterval 120\nMatch invalid-user User azure*\n  ClientAliveInterval 9\n"
    assert _cai(tmp_path, both, release, _passwd(tmp_path)) == "120"
    negated = "ClientAliveInterval 120\nMatch User azure*\n  ClientAliveInterval 9\n"
    assert _cai(tmp_path, negated, release, _passwd(tmp_path)) == "9"


def test_99_let_invalid_user_hold_at_start_up(tmp_path: Path) -> None:
    """9.9's start-up parse skipped the criterion (``ci == NULL: continue``), so an
    ``Invalid-User`` block applied to everyone; 10.0 fixed it (af49d474e)."""
    config = "Match Invalid-User\n  ClientAliveInterval 600\n"
    valid = _passwd(tmp_path, "azureuser")
    assert _cai(tmp_path, config, V99, valid) == "600"
    assert _cai(tmp_path, config, V10, valid) == "0"


def test_99_refuses_attribute_equals_value(tmp_path: Path) -> None:
    config = "Match User=azureuser\n  ClientAliveInterval 600\n"
    with pytest.raises(ValueError, match=r"^missing Match criteria for user=azureuser$"):
        _cai(tmp_path, config, V99)
    assert _cai(tmp_path, config, V10) == "600"
    assert (
        _cai(tmp_path, "Match Address=10.0.0.0/8 User=azureuser\n ClientAliveInterval 6\n", V10)
        == "0"
    )


def test_10_refuses_an_unknown_attribute_equals_value(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^missing Match criteria for colour=blue$"):
        _cai(tmp_path, "Match Colour=blue\n  ClientAliveInterval 5\n", V10)
    with pytest.raises(ValueError, match=r"^missing Match criteria for user$"):
        _cai(tmp_path, "Match User=\n  ClientAliveInterval 5\n", V10)


def test_version_matches_the_installed_release_in_both_parses(tmp_path: Path) -> None:
    config = "Match Version OpenSSH_10.*,!OpenSSH_10.0p1*\n  ClientAliveInterval 600\n"
    assert _cai(tmp_path, config, V10) == "600"
    assert _cai(tmp_path, config, "OpenSSH_10.0p1") == "0"
    assert _cai(tmp_path, config, "OpenSSH_10.2p1") == "600"
    # Debian's SSH_RELEASE carries its revision: an exact upstream name does not match it
    assert _cai(tmp_path, "Match version=OpenSSH_10.0p2\n ClientAliveInterval 7\n", V10) == "0"
    # the start-up parse applies it too, so it holds for every user (unlike User)
    path = tmp_path / "sshd_config"
    path.write_text(config)
    other = {"user": "alice", "host": "h", "addr": "192.0.2.1", "laddr": "10.0.0.4", "lport": "22"}
    assert effective_settings(DirTree(), other, str(path), V10)["clientaliveinterval"] == "600"


def test_version_of_an_unknown_release_is_an_error(tmp_path: Path) -> None:
    """Conservative: no guess at which block applies (documented in docs/checks.md)."""
    with pytest.raises(ValueError, match=r"^Match Version needs the installed sshd's release"):
        _cai(tmp_path, "Match Version OpenSSH_9*\n  ClientAliveInterval 600\n", None)


@pytest.mark.parametrize(
    "criterion",
    ["exec true", "tagged x", "command x", "sessiontype shell", "localnetwork 10.0.0.0/8"],
)
def test_client_only_criteria_are_refused_by_10(tmp_path: Path, criterion: str) -> None:
    word = criterion.split()[0]
    with pytest.raises(ValueError, match=f"^unsupported Match attribute {word}$"):
        _cai(tmp_path, f"Match {criterion}\n  ClientAliveInterval 600\n", V10)


def _image_release(tmp_path: Path, binary: bytes, status: str | None) -> str | None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=debian\n")
    (root / "etc/fstab").write_text("/dev/sda1 / ext4 defaults 0 1\n")
    sshd = root / "usr/sbin/sshd"
    sshd.parent.mkdir(parents=True)
    sshd.write_bytes(binary)
    sshd.chmod(0o755)
    if status is not None:
        (root / "var/lib/dpkg").mkdir(parents=True)
        (root / "var/lib/dpkg/status").write_text(
            f"Package: openssh-server\nStatus: install ok installed\nVersion: {status}\n\n"
        )
    image = mkfs("ext4", root, tmp_path / "root.img", 16 * MIB)
    with open_filesystems(image) as files:
        return sshd_release(OfflineImage(files))


@pytest.mark.parametrize(
    ("binary", "status", "release"),
    [
        (None, None, "host"),
        (b"\x7fELF", "1:10.0p1-5", "OpenSSH_10.0p1 Debian-5"),
        (b"\x7fELF", "1:9.6p1-3ubuntu13.5", "OpenSSH_9.6p1 Ubuntu-3ubuntu13.5"),
        (b"\x7fELF\0OpenSSH_10.2p1\0", "1:9.2p1-2", "OpenSSH_10.2p1"),  # the binary decides
        (b"\x7fELF", None, None),
    ],
    ids=["host binary", "debian package", "ubuntu package", "binary first", "unknown"],
)
def test_the_image_sshd_release(
    tmp_path: Path, binary: bytes | None, status: str | None, release: str | None
) -> None:
    tool("mkfs.ext4")
    found = _image_release(tmp_path, binary or Path(SSHD).read_bytes(), status)
    assert found == (HOST_RELEASE if release == "host" else release)
