"""``POST /selftest-vm`` driven the way a client written for Microsoft's self-test API drives
it: bearer token, the documented body (both spellings), the envelope parsed twice; against the
suite's real sshd on 127.0.0.1, logging in with a password as the self-test does."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.web.selftest import SelftestBadRequest, parse_request
from tests.test_ssh_session import Sshd, sshd
from tests.test_web_fixtures import TOKEN, Served, served, store, web_settings

__all__ = ["served", "sshd", "store", "web_settings"]  # fixtures used by name

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=300) as http:
        yield http


def test_both_documented_bodies_parse_to_the_same_request() -> None:
    current = {
        "DNSName": "vm.example",
        "UserName": "azureuser",
        "Password": "pw",
        "OS": "Linux",
        "PortNo": "2222",
        "CompanyName": "Contoso",
        "AppId": "client-id ",
        "TenantId": "tenant",
    }
    older = {"dnsname": "vm.example", "User": "azureuser", "Password": "pw", "OS": "Linux",
             "PortNo": 2222, "CompanyName": "Contoso", "AppID": "client-id"}  # fmt: skip
    assert parse_request(current) == parse_request(older)
    assert parse_request(current).port == 2222 and parse_request(current).app_id == "client-id"
    assert "pw" not in repr(parse_request(current))
    for broken, message in (
        ({**current, "OS": "Windows"}, "Linux virtual machines only"),
        ({**current, "PortNo": "ssh"}, "not a port number"),
        ({**current, "PortNo": 70000}, "not a port number"),
        ({k: v for k, v in current.items() if k != "DNSName"}, "DNSName is required"),
        ({k: v for k, v in current.items() if k != "UserName"}, "UserName or User is required"),
        ({**current, "Password": ""}, "Password is required"),
        ({**current, "DNSName": ["x"]}, "DNSName must be a string"),
        ({**current, "DNSName": "a\nb"}, "control characters"),
    ):
        with pytest.raises(SelftestBadRequest, match=message):
            parse_request(broken)


def test_selftest_endpoint_needs_the_token_and_a_usable_body(client: httpx.Client) -> None:
    assert client.post("/selftest-vm", json={}).status_code == 401
    assert client.get("/selftest-vm", headers=AUTH).status_code == 405
    bad = client.post("/selftest-vm", json={"DNSName": "x"}, headers=AUTH)
    assert bad.status_code == 400 and "is required" in bad.json()["error"]["message"]


def test_unreachable_vm_is_a_502_without_the_password(client: httpx.Client) -> None:
    body = {"DNSName": "127.0.0.1", "User": "u", "Password": "never-shown-pw", "PortNo": 1}
    answer = client.post("/selftest-vm", json=body, headers=AUTH)
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"]["code"] == "VmUnreachable"
    assert "never-shown-pw" not in answer.text


def test_selftest_against_a_real_sshd(client: httpx.Client, sshd: Sshd, tmp_path: Path) -> None:
    body = {
        "DNSName": "127.0.0.1",
        "UserName": sshd.user,
        "Password": sshd.password,
        "OS": "Linux",
        "PortNo": str(sshd.port),
        "CompanyName": "Contoso <b>",
        "AppId": "00000000-0000-0000-0000-000000000000 ",
        "TenantId": "11111111-1111-1111-1111-111111111111",
    }
    answer = client.post("/selftest-vm", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert sshd.password not in answer.text
    envelope = answer.json()
    assert set(envelope) == {"TrackingId", "Response"}
    assert isinstance(envelope["Response"], str)  # parsed twice, as the documented clients do
    result = json.loads(envelope["Response"])
    assert result["SchemaVersion"] == 1
    assert result["AppCertificationCategory"] == "Microsoft Single VM Certification"
    assert result["TestResult"] in ("Pass", "Fail")
    assert result["OSName"] and result["KernelVersion"]
    tests = {t["TestID"]: t for t in result["Tests"]}
    assert tests["49"]["Result"] == "Passed"  # OS architecture: x86_64 here
    assert {"48", "46"} <= set(tests)  # Bash History, Client Alive Interval
    assert all(t["Result"] in ("Passed", "Warning", "Failed") for t in tests.values())
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", result["CreatedDate"])
