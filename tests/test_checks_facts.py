"""Facts as typed units: discovery, shell texts as package data, the Facts container."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from checks.fact import (
    FACTS,
    Fact,
    FactError,
    Facts,
    MissingFactError,
    fact,
    load_builtin_facts,
    shell_text,
    supplied,
)
from checks.facts.image import FACT as IMAGE
from checks.facts.sshd import FACT as SSHD
from checks.facts.sshd import SshdConfig
from checks.family import FAMILIES

REPO = Path(__file__).resolve().parent.parent
FACTS_DIR = REPO / "checks" / "facts"
RECORDED = Path(__file__).parent / "fixtures" / "probe_outputs"

SSHD_TEXT = (
    "### effective\nclientaliveinterval 120\nport 22\n### main_config\n3:ClientAliveInterval 120\n"
)


def test_every_module_and_shell_text_is_one_discovered_fact() -> None:
    load_builtin_facts()
    modules = {p.stem for p in FACTS_DIR.glob("*.py") if not p.stem.startswith("_")}
    texts = {p.name.split(".")[0] for p in FACTS_DIR.glob("*.sh") if not p.name.startswith("vp_")}
    assert texts <= modules, texts - modules  # every text has its module
    assert modules <= set(FACTS.names())
    for name in modules:
        item = FACTS.get(name)
        assert item.name == name
        assert item.probed == (name in texts), name
    for path in FACTS_DIR.glob("*.*.sh"):
        name, family, _ = path.name.split(".")
        assert family in FAMILIES and family in FACTS.get(name).family_scripts


def test_supplied_facts_have_no_probe() -> None:
    load_builtin_facts()
    assert not FACTS.get("image").probed and not FACTS.get("harness_footprint").probed
    with pytest.raises(FactError, match="supplied"):
        IMAGE.parse("anything")


def test_helpers_are_prepended_only_where_called() -> None:
    load_builtin_facts()
    os_release = FACTS.get("os_release").script
    assert os_release.startswith("# `cat FILE` with builtins") and "vp_cat() {" in os_release
    assert "vp_ls() {" not in os_release and "vp_head() {" not in os_release
    assert "vp_ls() {" in FACTS.get("network").script
    # a text that defines its own vp_ function gets no helper file for it
    assert shell_text("vp_cat() { :; }\nvp_cat x\n").count("vp_cat() {") == 1


def test_the_text_runs_standalone(tmp_path: Path) -> None:
    """A fact's text is one POSIX sh script: run alone it prints the file, like cat."""
    load_builtin_facts()
    proc = subprocess.run(
        ["sh", "-c", FACTS.get("os_release").script],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == Path("/etc/os-release").read_text()


def test_a_missing_shell_text_is_a_definition_error() -> None:
    with pytest.raises(FactError, match=r"checks\.facts/no_such_fact\.sh"):
        fact("no_such_fact", str)


def test_from_texts_parses_into_typed_values() -> None:
    facts = Facts.from_texts({"sshd": SSHD_TEXT}, source="recorded")
    value = facts.get(SSHD)
    assert isinstance(value, SshdConfig)
    assert value.client_alive_interval == 120 and value.main_client_alive_interval == 120
    assert value.effective["port"] == "22"
    assert "sshd" in facts and SSHD in facts and list(facts) == ["sshd"] and len(facts) == 1
    assert facts.raw == {"sshd": SSHD_TEXT} and facts.sources == {"sshd": "recorded"}
    assert facts.require(SSHD) is value


def test_a_parse_error_becomes_an_error_of_that_fact_not_a_crash() -> None:
    def broken(text: str) -> int:
        raise ValueError("no number here")

    odd = Fact(name="odd", parse=broken, script="echo\n")
    facts = Facts.from_texts(
        {"odd": "x", "sshd": SSHD_TEXT, "nonesuch": "y"},
        errors={"uname": "probe uname exited 1: boom"},
        known=[odd],
    )
    assert "odd" not in facts and facts.get(odd) is None and "sshd" in facts
    assert facts.errors["odd"] == "fact odd: cannot parse its output (ValueError: no number here)"
    assert facts.errors["nonesuch"] == "fact nonesuch: no such fact is defined"
    assert facts.errors["uname"] == "probe uname exited 1: boom"
    assert facts.raw["odd"] == "x"  # the text is kept for the probe-output files
    with pytest.raises(MissingFactError, match="cannot parse"):
        facts.require(odd)


def test_with_value_and_merged_keep_the_newer_value_and_drop_settled_errors() -> None:
    @dataclass(frozen=True)
    class Count:
        n: int

    count = supplied("count", Count)
    offline = Facts().with_value(count, Count(1), "offline")
    online = Facts.from_texts({"sshd": SSHD_TEXT}, errors={"count": "probe count timed out"})
    both = offline.merged(online)
    assert both.get(count) == Count(1) and "count" not in both.errors  # a value beats an error
    assert both.sources == {"count": "offline", "sshd": "online"}
    newer = both.merged(Facts().with_value(count, Count(2), "harness"))
    assert newer.get(count) == Count(2) and both.get(count) == Count(1)  # immutable
    assert Facts().get(count) is None


@pytest.mark.parametrize("distro", sorted(p.name for p in RECORDED.iterdir()))
def test_every_recorded_output_parses(distro: str) -> None:
    texts = {p.stem: p.read_text() for p in (RECORDED / distro).glob("*.txt")}
    facts = Facts.from_texts(texts, source="recorded")
    assert facts.errors == {}
    assert set(facts) == set(texts)


def test_third_party_fact_through_a_real_entry_point(tmp_path: Path) -> None:
    """A ``vmcert.facts`` entry point adds a fact, shell text as its own package's data."""
    package = tmp_path / "vmcert_demo_facts"
    package.mkdir()
    (package / "motd.sh").write_text("cat /etc/motd 2>/dev/null; exit 0\n")
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass
            from checks.fact import fact

            @dataclass(frozen=True)
            class Motd:
                lines: int

            FACT = fact("motd", lambda text: Motd(len(text.splitlines())),
                        package="vmcert_demo_facts")
            """
        )
    )
    dist = tmp_path / "vmcert_demo_facts-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vmcert-demo-facts\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[vmcert.facts]\nmotd = vmcert_demo_facts:FACT\n")
    code = (
        "from checks.fact import FACTS, Facts;"
        "f = FACTS.get('motd');"
        "print(f.script.strip(), '|', Facts.from_texts({'motd': 'a\\nb\\n'}).get(f))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"},
        check=True,
    )
    assert out.stdout.strip() == "cat /etc/motd 2>/dev/null; exit 0 | Motd(lines=2)"
