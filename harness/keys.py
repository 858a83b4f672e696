"""Ephemeral SSH key pairs for one run.

paramiko cannot generate Ed25519 keys, so the pair is made with ``cryptography`` and written in
OpenSSH format; both files are created 0600 from the start (never world-readable, not even briefly).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    """A private key file and the matching ``authorized_keys`` line."""

    private_path: Path
    public_path: Path
    public_line: str


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT honours umask only when the file is new
        os.write(fd, data)
    finally:
        os.close(fd)


def generate_keypair(directory: Path, name: str = "id_ed25519", comment: str = "vmcert") -> KeyPair:
    """Create an ed25519 key pair in ``directory`` (files 0600) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode('ascii')} {comment}"
    private_path = directory / name
    public_path = directory / f"{name}.pub"
    _write_private(private_path, private)
    _write_private(public_path, (line + "\n").encode("ascii"))
    return KeyPair(private_path, public_path, line)
