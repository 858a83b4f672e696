"""Fixtures of the publishing pipeline's tests: a real PostgreSQL (Debian's package) on
127.0.0.1 in a temporary data directory, a real SMTP server (aiosmtpd, STARTTLS + AUTH), Azurite's
table service, an HTTPS lead receiver, a test CA, and the sample offer.

Import the fixtures into a test module with ``from tests.publish_fixtures import *``-style
explicit imports (pytest finds fixtures by name in the module's namespace).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.publish.settings import PublishSettings, load_settings
from harness.publish.template import write_template

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class Postgres:
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = "vmcert_" + secrets.token_hex(6)
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """Our own PostgreSQL 15 on 127.0.0.1 (trust auth, fsync off), stopped at the end."""
    if not (PG_BIN / "postgres").exists():
        pytest.skip("PostgreSQL is not installed (scripts/install.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="vmcert-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    user = "vmcert"
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = open(root / "postgres.log", "wb")  # noqa: SIM115 - closed at the end of the session
    process = subprocess.Popen(
        _as_postgres(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(sockets),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "postgres.log").read_text()[-2000:])
            time.sleep(0.2)
        yield Postgres(port, user)
    finally:
        process.terminate()  # SIGTERM: smart shutdown
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backends: a SQLite file, and a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'publish.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> PublishSettings:
    """Settings on a temporary data directory and the test's database; short leases and
    retries so the tests run in seconds."""
    monkeypatch.setenv("VMCERT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VMCERT_PUBLISH_SETTINGS", raising=False)
    monkeypatch.setenv("VMCERT_PUBLISH_DB", database_url)
    base = load_settings()
    return replace(
        base, lease_seconds=3.0, tick_seconds=0.05, retry_delay_seconds=0.2, retry_limit=1
    )


# -- the sample offer --------------------------------------------------------------------------


@pytest.fixture
def offer_dir(tmp_path: Path) -> Path:
    """``vmcert offer init`` output with a small image file where the template names one."""
    directory = tmp_path / "offer"
    write_template(directory)
    image = directory / "images" / "contoso-standard-1.0.0.vhd"
    image.parent.mkdir()
    image.write_bytes(b"\0" * 4096)
    return directory


def edit_offer(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


# -- a test CA ----------------------------------------------------------------------------------


@dataclass
class TestCA:
    __test__ = False
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A CA and a certificate for 127.0.0.1/localhost signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("ca")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vmcert test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "cert.pem").write_bytes(cert.public_bytes(pem))
    (directory / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return TestCA(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")


# -- SMTP ---------------------------------------------------------------------------------------


@dataclass
class SmtpServer:
    port: int
    user: str
    password: str
    messages: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)


@pytest.fixture
def smtp_server(test_ca: TestCA) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS, then AUTH, before mail."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    server = SmtpServer(free_port(), "publisher", "s3cret-smtp-pass")

    class Handler:
        async def handle_DATA(self, _server, _session, envelope):  # type: ignore[no-untyped-def]
            server.messages.append(envelope.original_content or envelope.content)
            return "250 OK"

    def authenticate(_server, _session, _envelope, mechanism, data):  # type: ignore[no-untyped-def]
        ok = isinstance(data, LoginPassword) and (
            data.login.decode() == server.user and data.password.decode() == server.password
        )
        if ok:
            server.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=server.port,
        tls_context=test_ca.server_context(),
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# -- Azurite's table service ---------------------------------------------------------------------

AZURITE_ACCOUNT = "devstoreaccount1"


@dataclass
class AzuriteTable:
    port: int
    key: str

    def connection_string(self, key: str | None = None) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={key or self.key};"
            f"TableEndpoint=http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT};"
        )


@pytest.fixture(scope="session")
def azurite_table() -> Iterator[AzuriteTable]:
    """``azurite-table`` (the npm package pinned in package.json) on 127.0.0.1, in memory, with an
    account of our own key."""
    binary = REPO / "node_modules" / ".bin" / "azurite-table"
    if not binary.exists():
        pytest.skip("Azurite is not installed (npm ci; scripts/install.sh does it)")
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    port = free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(port),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--silent",
        ],
        env={**os.environ, "AZURITE_ACCOUNTS": f"{AZURITE_ACCOUNT}:{key}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("azurite-table did not start") from None
                time.sleep(0.1)
        yield AzuriteTable(port, key)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- an HTTPS lead receiver ----------------------------------------------------------------------


@dataclass
class LeadReceiver:
    url: str
    leads: list[dict[str, object]] = field(default_factory=list)
    reject_with: tuple[int, str] | None = None


@pytest.fixture
def lead_receiver(test_ca: TestCA) -> Iterator[LeadReceiver]:
    """An HTTPS endpoint on 127.0.0.1 storing the JSON leads it receives (keys read
    case-insensitively, as CRM receivers must), or rejecting them when told to."""
    port = free_port()
    receiver = LeadReceiver(f"https://127.0.0.1:{port}/leads")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.reject_with is not None:
                code, text = receiver.reject_with
                self.send_response(code)
                self.end_headers()
                self.wfile.write(text.encode())
                return
            lead = json.loads(body)
            receiver.leads.append({k.lower(): v for k, v in lead.items()})
            self.send_response(202)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.socket = test_ca.server_context().wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
