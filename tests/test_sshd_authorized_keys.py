"""Every key file that ``AuthorizedKeysFile`` names is searched, also one named only inside a
``Match`` block or a drop-in (issue 12: "search every key file that AuthorizedKeysFile names").

The choice (docs/checks.md): the value sshd applies to the probe's connection (``sshd -T -C``;
sshd's default when it cannot say or says ``none``) plus every AuthorizedKeysFile word of
sshd_config and the files it includes, Match blocks or not, each expanded for every home on the
disk. It over-approximates what sshd would give each account, never under: a key that some
account could be let in with is never missed.

Each tree is judged twice: by the online probe (``accounts.sh`` under every POSIX shell here,
its paths moved into the tree, the real sshd reading the tree's sshd_config for ``sshd -T``) and
by the offline reader on an ext4 image of the same tree; both must print the same key files.
The old probe and reader read only azureuser's (respectively the first global) value: the key
planted for admin was invisible to both and ``no_default_credentials`` passed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks.fact import FACTS, load_builtin_facts
from checks.offline import read_image_facts
from checks.parsing import sections
from tests.test_checks_units import run
from tests.test_images_fs_support import MIB, mkfs, tool
from tests.test_offline_sshd_match import SSHD
from tests.test_probe_texts import SHELLS, STD_PATH, _text

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    "admin:x:1001:1001::/srv/admin:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
)
SHADOW = "root:*:1::::::\nalice:!:1::::::\nadmin:!:1::::::\n"
ADMIN = "Match User admin\n  AuthorizedKeysFile /etc/ssh/keys/%u\n"
# name -> ({path: text}, the key files that must be found)
TREES = {
    "a Match User block's file": (
        {"/etc/ssh/sshd_config": "PasswordAuthentication no\n" + ADMIN},
        ["/etc/ssh/keys/admin"],
    ),
    "drop-ins' Match blocks, = form and comment": (
        {
            "/etc/ssh/sshd_config": (
                "Include sshd_config.d/10-admin.conf sshd_config.d/5*.conf\n"
                "PasswordAuthentication no\n"
            ),
            "/etc/ssh/sshd_config.d/10-admin.conf": ADMIN,
            "/etc/ssh/sshd_config.d/50-ops.conf": (
                "Match Group ops\n\tAuthorizedKeysFile=.ssh/ops_keys #team keys\r\n"
            ),
        },
        ["/home/alice/.ssh/ops_keys", "/etc/ssh/keys/admin"],
    ),
    "none globally, a holding Address block names two": (
        {
            "/etc/ssh/sshd_config": (
                "AuthorizedKeysFile none\nMatch Address 198.51.100.0/24\n"
                "  AuthorizedKeysFile .ssh/k1 %h/.ssh/k2\n" + ADMIN
            )
        },
        ["/home/alice/.ssh/k2", "/etc/ssh/keys/admin"],
    ),
}
KEYS = {
    "/etc/ssh/keys/admin": "ssh-ed25519 AAAAadmin admin\n",
    "/home/alice/.ssh/ops_keys": "# ops\nssh-ed25519 AAAAops alice\n",
    "/home/alice/.ssh/k2": "ssh-ed25519 AAAAk2 alice\n",
    "/srv/admin/.ssh/authorized_keys": "",  # empty: skipped ([ -s ])
}


def _tree(root: Path, files: dict[str, str]) -> Path:
    base = {"/etc/passwd": PASSWD, "/etc/shadow": SHADOW, **KEYS, **files}
    base["/etc/group"] = "root:x:0:\nalice:x:1000:\nops:x:1002:alice\n"
    for path, text in base.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (root / "root").mkdir(exist_ok=True)
    sshd = root / "usr/sbin/sshd"  # the offline reader's sshd, with the host's release string
    sshd.parent.mkdir(parents=True, exist_ok=True)
    sshd.write_bytes(b"\x7fELF\0OpenSSH_9.2p1 Debian-2+deb12u10\0")
    sshd.chmod(0o755)
    return root


def _online(tmp_path: Path, root: Path, shell: list[str]) -> str:
    """The probe on this host, the tree bound over its paths in a private mount namespace
    (the configuration names absolute paths, which cannot be moved into the tree)."""
    key = tmp_path / "host_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    wrapper = tmp_path / "sshd"  # the real sshd, with a host key of the test's
    wrapper.write_text(f'#!/bin/sh\nexec {SSHD} -h {key} "$@"\n')
    wrapper.chmod(0o755)
    text = _text("accounts")
    assert "SSHD=/usr/sbin/sshd;" in text
    text = text.replace("SSHD=/usr/sbin/sshd;", f"SSHD={wrapper};")
    binds = " && ".join(
        f"mount --bind {root}{path} {path}"
        for path in ("/etc/ssh", "/etc/passwd", "/home", "/srv", "/root")
    )
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", binds + ' && exec "$@"', "sh", *shell, "-c", text],
        capture_output=True,
        text=True,
        env={"PATH": STD_PATH, "LC_ALL": "C"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(("files", "found"), TREES.values(), ids=TREES)
def test_a_key_named_only_in_a_match_block_is_found_online_and_offline(
    tmp_path: Path, files: dict[str, str], found: list[str]
) -> None:
    tool("mkfs.ext4")
    load_builtin_facts()
    root = _tree(tmp_path / "root", files)
    image = mkfs("ext4", root, tmp_path / "root.img", 16 * MIB)
    collection = read_image_facts(image, [FACTS.get("accounts")], now=2_000_000_000)
    assert not collection.facts.errors, collection.facts.errors
    offline = collection.facts.raw["accounts"]
    listed = sections(offline)["authorized_keys"]
    assert listed == "".join(f"{path} root key\n" for path in found)
    for shell in SHELLS:
        assert sections(_online(tmp_path, root, shell))["authorized_keys"] == listed, shell
    result = run("no_default_credentials", {"accounts": offline})
    assert result.status.value == "fail"
    assert all(f"{path}: authorized key" in result.actual for path in found)


def test_without_the_planted_keys_the_image_passes(tmp_path: Path) -> None:
    """The satisfying twin: the same configuration, the key files empty."""
    tool("mkfs.ext4")
    load_builtin_facts()
    root = _tree(tmp_path / "root", TREES["a Match User block's file"][0])
    (root / "etc/ssh/keys/admin").write_text("")
    image = mkfs("ext4", root, tmp_path / "root.img", 16 * MIB)
    collection = read_image_facts(image, [FACTS.get("accounts")], now=2_000_000_000)
    offline = collection.facts.raw["accounts"]
    assert sections(offline)["authorized_keys"] == ""
    assert run("no_default_credentials", {"accounts": offline}).status.value == "pass"
