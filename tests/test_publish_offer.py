"""The offer file: template, per-field problems, hostile input, secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.publish.errors import OfferFileError
from harness.publish.offer import MAX_FILE_BYTES, load_offer
from harness.publish.product_page import render_product_page
from harness.publish.secrets import Masker
from harness.publish.template import square_png, write_template

pytest_plugins = ("tests.publish_fixtures",)
pytest.register_assert_rewrite("tests.publish_fixtures")

from tests.publish_fixtures import edit_offer  # noqa: E402


def fields(path: Path) -> dict[str, str]:
    return {p.field: p.message for p in load_offer(path).problems}


def test_template_validates_and_reads_every_section(offer_dir: Path) -> None:
    check = load_offer(offer_dir / "offer.toml")
    assert check.ok, check.problems
    offer = check.offer
    assert (offer.id, offer.publisher) == ("contoso-vm", "contoso")
    assert offer.plans[0].images[0].path == offer_dir / "images/contoso-standard-1.0.0.vhd"
    assert offer.plans[0].recommended_sizes == ("Standard_B2s", "Standard_D2s_v5")
    assert offer.regions == ("eastus", "westeurope")
    assert offer.listing.logos["large"] == offer_dir / "logo-large.png"
    assert offer.notification_emails == ("publishing@contoso.example",)
    assert offer.leads.destination == "none"


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    write_template(tmp_path)
    with pytest.raises(OfferFileError, match="already exists; pass --force"):
        write_template(tmp_path)


def test_missing_fields_are_reported_each_next_to_its_field(offer_dir: Path) -> None:
    path = offer_dir / "offer.toml"
    edit_offer(path, 'summary = "A hardened Debian image for web workloads."', "")
    edit_offer(path, 'phone = "+1 425 555 0101"', "")
    edit_offer(path, 'recommended_sizes = ["Standard_B2s", "Standard_D2s_v5"]', "")
    edit_offer(path, '"00000000-0000-0000-0000-000000000000"', '"not-a-guid"')
    problems = fields(path)
    assert problems == {
        "listing.summary": "required",
        "contacts.engineering.phone": "required",
        "plans[0].recommended_sizes": "required (at least 1)",
        "preview.subscriptions[0]": "not valid: a subscription GUID",
    }


def test_wrong_types_limits_and_typos(offer_dir: Path) -> None:
    path = offer_dir / "offer.toml"
    edit_offer(path, "generation = 1", 'generation = "two"')
    edit_offer(path, 'categories = ["compute"]', 'categories = "compute"')
    edit_offer(path, 'name = "Standard"', "name = 3\nsizes = []")
    edit_offer(path, 'id = "standard"', 'id = "Standard_"')
    edit_offer(path, '"1.0.0" = ', '"1.0" = ')
    edit_offer(path, "use_standard_contract = true", 'use_standard_contract = "yes"')
    problems = fields(path)
    assert problems["plans[0].generation"] == "expected a number, got text"
    assert problems["listing.categories"] == "expected a list of text, got text"
    assert problems["plans[0].name"] == "expected text, got a number"
    assert problems["plans[0].sizes"].startswith("unknown field")
    assert problems["plans[0].id"] == "not valid: lowercase letters, digits, dashes"
    assert problems['plans[0].images."1.0"'].startswith("an image version is MAJOR.MINOR.PATCH")
    assert problems["listing.use_standard_contract"] == "expected true or false, got text"


def test_logo_must_be_a_png_of_the_documented_size(offer_dir: Path) -> None:
    (offer_dir / "logo-large.png").write_bytes(square_png(100, (1, 2, 3)))
    assert fields(offer_dir / "offer.toml") == {
        "listing.logos.large": "must be 216x216 to 350x350, square pixels (it is 100x100)"
    }
    (offer_dir / "logo-large.png").write_bytes(b"GIF89a" + b"\0" * 40)
    assert fields(offer_dir / "offer.toml") == {"listing.logos.large": "must be a PNG file"}


def test_hostile_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text('[offer]\nname = "' + "x" * MAX_FILE_BYTES + '"\n')
    with pytest.raises(OfferFileError, match="larger than 1024 KiB"):
        load_offer(path)


def test_hostile_not_toml_and_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[offer\n")
    with pytest.raises(OfferFileError, match=r"bad\.toml: not valid TOML"):
        load_offer(bad)
    bad.write_bytes(b'[offer]\nname = "\xff"\n')
    with pytest.raises(OfferFileError, match="not UTF-8"):
        load_offer(bad)


def test_hostile_long_text_control_characters_and_many_entries(offer_dir: Path) -> None:
    path = offer_dir / "offer.toml"
    edit_offer(path, 'name = "Contoso Hardened Linux"', 'name = "' + "A" * 5000 + '"')
    edit_offer(path, 'os_type = "debian"', 'os_type = "deb\\u001b[31mian"')
    subscriptions = ", ".join(f'"00000000-0000-0000-0000-{i:012d}"' for i in range(150))
    edit_offer(path, '["00000000-0000-0000-0000-000000000000"]', f"[{subscriptions}]")
    problems = fields(path)
    assert problems["offer.name"] == "at most 200 characters (it has 5000)"
    assert problems["plans[0].os_type"] == "contains a control character (U+001B)"
    assert problems["preview.subscriptions"] == "at most 100 entries (it has 150)"
    assert load_offer(path).offer.name == ""  # an invalid value is never carried on


def test_markup_in_fields_is_kept_as_text_and_escaped_in_the_page(offer_dir: Path) -> None:
    path = offer_dir / "offer.toml"
    edit_offer(path, 'name = "Contoso Hardened Linux"', 'name = "<script>alert(1)</script>"')
    edit_offer(path, 'name = "Standard"', 'name = "<img src=x onerror=alert(2)>"')
    check = load_offer(path)
    assert check.ok
    page = render_product_page(check.offer)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert 'src="data:image/png;base64,' in page  # self-contained: the logo is embedded


def test_lead_secret_from_the_environment_is_masked(offer_dir: Path) -> None:
    path = offer_dir / "offer.toml"
    edit_offer(
        path,
        "[notifications]",
        '[leads]\ndestination = "table"\ncontact_email = "leads@contoso.example"\n'
        'connection_string_env = "CONTOSO_LEADS"\n\n[notifications]',
    )
    secret = "DefaultEndpointsProtocol=https;AccountName=leads;AccountKey=c2VjcmV0LWtleS12YWx1ZQ=="
    check = load_offer(path, env={"CONTOSO_LEADS": secret})
    assert check.ok, check.problems
    stored = check.offer.leads.connection_string
    assert stored is not None and stored.value == secret and stored.source == "env:CONTOSO_LEADS"
    assert secret not in repr(check.offer) and "c2VjcmV0" not in str(stored)
    masker = Masker()
    masker.add(stored)
    assert "c2VjcmV0" not in masker.mask(f"failed: {secret}")
    missing = {p.field: p.message for p in load_offer(path, env={}).problems}
    assert missing == {
        "leads.connection_string_env": "the environment variable CONTOSO_LEADS is not set"
    }


def test_inline_secret_is_masked_in_the_file_text() -> None:
    masker = Masker()
    text = 'connection_string = "AccountName=x;AccountKey=abc123=="\nname = "ok"\n'
    masked = masker.mask(text)
    assert "abc123" not in masked and 'name = "ok"' in masked
    assert masked.startswith('connection_string = "***"')


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from harness.publish.cli import offer_group; "
        "sys.exit(offer_group.main(sys.argv[1:], standalone_mode=False))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_offer_init_and_validate_commands(tmp_path: Path) -> None:
    init = _cli("init", str(tmp_path / "o"), cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    good = _cli("validate", str(tmp_path / "o/offer.toml"), cwd=tmp_path)
    assert good.returncode == 0 and "valid (1 plan(s))" in good.stdout
    edit_offer(tmp_path / "o/offer.toml", 'email = "support@contoso.example"', 'email = "nope"')
    bad = _cli("validate", str(tmp_path / "o/offer.toml"), cwd=tmp_path)
    assert bad.returncode == 1
    assert "contacts.support.email: not valid: an e-mail address" in bad.stdout
    assert "Traceback" not in bad.stderr
