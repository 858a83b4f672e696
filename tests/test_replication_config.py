"""Storage configuration, redaction and approval rules (no storage service needed)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from harness.errors import ConfigError, exit_code_for
from harness.replication import ApprovalError, RegionRecord, ReplicationRecord, check_approval
from harness.replication.config import load_config
from harness.replication.redaction import REDACTED, RedactingFilter, redact, register_secret

KEY = "bXlzdXBlcnNlY3JldGFjY291bnRrZXkxMjM0NTY3ODkwYWJjZGVm"
SIG = "c2lnbmF0dXJlVmFsdWUxMjM0NTY3ODk%3D"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "storage.toml"
    path.write_text(text)
    return path


def test_load_config_regions_credentials_and_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WESTEU_KEY", KEY)
    path = write(
        tmp_path,
        """
[storage]
container = "images"
blob_name = "{offer}/{plan}/{version}.vhd"

[storage.regions.eastus]
account_url = "https://certeastus.blob.core.windows.net"

[storage.regions.westeurope]
account_url = "https://certwesteu.blob.core.windows.net"
account_key_env = "WESTEU_KEY"
container = "other"

[storage.regions.seasia]
account_url = "https://certseasia.blob.core.windows.net"
sas_token = "sv=2025-11-05&sp=rcw&sig=abcdefgh"
""",
    )
    config = load_config(path)
    east, west, sea = config.select(["eastus", "westeurope", "seasia"])
    assert east.credential == "default" and east.container == "images"
    assert west.credential == "key" and west.account_key == KEY and west.container == "other"
    assert west.account_name == "certwesteu"
    assert sea.credential == "sas"
    assert (
        east.blob_name(offer="o", plan="p", version="1.0", digest="d", image="i") == "o/p/1.0.vhd"
    )
    assert KEY not in repr(west) and "abcdefgh" not in repr(sea)
    assert not east.emulator
    with pytest.raises(ConfigError, match="not configured"):
        config.select(["mars"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[storage]\n", "no regions"),
        ("nothing = 1\n", "missing \\[storage\\]"),
        ("[storage.regions.x]\ncontainer = 'vhds'\n", "account_url or connection_string"),
        (
            "[storage.regions.x]\naccount_url = 'https://a'\naccount_key_env = 'NOPE_UNSET'\n",
            "NOPE_UNSET",
        ),
        ("[storage.regions.x]\naccount_url = 'https://a'\ncontainer = 'A'\n", "container"),
        ("[storage.regions.x]\naccount_url = 'https://a'\nbogus = 1\n", "unknown key"),
        ("[storage.regions.x]\naccount_url = 'https://a'\ncredential = 'key'\n", "credential"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_config_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_bad_blob_template_is_a_config_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[storage.regions.x]\naccount_url = 'https://a'\nblob_name = '{sku}.vhd'\n"
    )
    region = load_config(path).regions["x"]
    with pytest.raises(ConfigError, match="sku"):
        region.blob_name(offer="o", plan="p", version="v", digest="d", image="i")


def test_redact_patterns_and_registered_secrets() -> None:
    register_secret(KEY)
    text = (
        f"url http://h/a/c/b?sv=1&sp=r&sig={SIG}&se=2 "
        f"cs DefaultEndpointsProtocol=http;AccountName=a;AccountKey={KEY};BlobEndpoint=x; "
        f"auth SharedKey acct:{KEY[:20]}abc= raw {KEY}"
    )
    out = redact(text)
    assert SIG not in out and KEY not in out and KEY[:20] not in out
    assert f"sig={REDACTED}" in out and f"AccountKey={REDACTED}" in out
    assert "AccountName=a" in out and "sv=1" in out  # the rest stays readable


def test_logging_filter_scrubs_message_args_and_traceback() -> None:
    register_secret(KEY)
    try:
        raise RuntimeError(f"failed with key {KEY}")
    except RuntimeError as exc:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "token %s",
            (f"sig={SIG}",),
            (type(exc), exc, exc.__traceback__),
        )
    RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert SIG not in formatted and KEY not in formatted
    assert "RuntimeError" in formatted


def test_record_is_redacted_when_written(tmp_path: Path) -> None:
    register_secret(KEY)
    record = ReplicationRecord(
        image={"path": "x", "data_bytes": 10}, approval={}, strategy="stream"
    )
    record.regions.append(
        RegionRecord(
            region="r",
            endpoint="http://e",
            container="c",
            blob="b",
            state="failed",
            error=f"bad key {KEY} at ?sig={SIG}",
        )
    )
    path = tmp_path / "rec.json"
    record.write(path)
    text = path.read_text()
    assert KEY not in text and SIG not in text
    assert json.loads(text)["ok"] is False and record.exit_code == 1


def _report(tmp_path: Path, entries: list[dict[str, object]], **top: object) -> Path:
    data = {"schema": "vmcert-report", "schema_version": 1, "images": entries, **top}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    return path


def test_approval_rules(tmp_path: Path) -> None:
    d = "ab" * 32
    ok = _report(
        tmp_path, [{"image": {"path": "a.vhd", "sparse_digest": d}, "verdict": "certified"}]
    )
    assert check_approval(ok, d, force=False)["approved"] is True
    assert check_approval(None, d, force=True)["forced"] is True
    with pytest.raises(ApprovalError, match="--report"):
        check_approval(None, d, force=False)
    with pytest.raises(ApprovalError, match="not found"):
        check_approval(tmp_path / "missing.json", d, force=False)
    with pytest.raises(ApprovalError, match="no entry"):
        check_approval(ok, "cd" * 32, force=False)
    bad = _report(
        tmp_path, [{"image": {"path": "a.vhd", "sparse_digest": d}, "verdict": "infra_error"}]
    )
    with pytest.raises(ApprovalError, match="infra_error"):
        check_approval(bad, d, force=False)
    wrong = _report(tmp_path, [], schema="junit")
    with pytest.raises(ApprovalError, match="not a vmcert report"):
        check_approval(wrong, d, force=False)
    assert exit_code_for(ApprovalError("x")) == 2
