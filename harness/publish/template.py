"""``vmcert offer init``: a commented offer file that validates as written, and its logo.

The sample values are Contoso's; a publisher replaces them. The template names a 216x216 PNG
logo that :func:`write_template` also writes (a plain square, generated here), so
``vmcert offer validate`` passes on a fresh template and each field's comment says its rule.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from harness.publish.errors import OfferFileError

OFFER_FILE = "offer.toml"
LOGO_FILE = "logo-large.png"

TEMPLATE = """\
# A vmcert offer: what `vmcert publish` takes from Publish to Live.
# `vmcert offer validate offer.toml` checks every field (the rules of Validate prerequisites).
# Text is shown as written: markup is escaped, never rendered.

[offer]
id = "contoso-vm"                # lowercase letters, digits, dashes; at most 50; no final dash
publisher = "contoso"            # your publisher id, same rule
name = "Contoso Hardened Linux"  # the listing title, at most 200 characters

[listing]
summary = "A hardened Debian image for web workloads."           # search results, at most 100
long_summary = "Debian 12 with a minimal package set, cloud-init and the Azure agent."  # max 256
description = \"\"\"
Contoso Hardened Linux is Debian 12 with a minimal package set, unattended security updates
and the Azure Linux agent. At most 3000 characters.
\"\"\"
privacy_policy_url = "https://contoso.example/privacy"         # an absolute https:// URL
categories = ["compute"]                                       # one or two
use_standard_contract = true     # or: terms_of_use = "..." (at most 10000 characters)

[listing.logos]
large = "logo-large.png"         # PNG, square, 216x216 to 350x350 pixels (required)
# medium = "logo-90.png"         # PNG 90x90;  small = "logo-48.png" (48x48); wide (255x115)

[contacts.support]
name = "Contoso Support"
email = "support@contoso.example"
phone = "+1 425 555 0100"

[contacts.engineering]
name = "Contoso Engineering"
email = "engineering@contoso.example"
phone = "+1 425 555 0101"

[preview]
# Azure subscription ids that see the offer in preview (1 to 100).
subscriptions = ["00000000-0000-0000-0000-000000000000"]

[[plans]]
id = "standard"                  # same rule as the offer id; unique within the offer
name = "Standard"
summary = "Debian 12, hardened"  # at most 100
description = "The hardened image with the default package set."
os_family = "linux"              # linux or windows
os_type = "debian"               # the Linux vendor or Windows release
os_friendly_name = "Debian 12"
generation = 1                   # 1 (MBR, BIOS) or 2 (GPT, UEFI)
recommended_sizes = ["Standard_B2s", "Standard_D2s_v5"]   # one to six

[plans.images]
# version (MAJOR.MINOR.PATCH) = image file (relative to this file) or URI; up to eight.
"1.0.0" = "images/contoso-standard-1.0.0.vhd"

[provisioning]
# The regions to replicate to: names in the storage configuration, as for `vmcert replicate`.
regions = ["eastus", "westeurope"]
# storage_config = "storage.toml"   # default: $VMCERT_STORAGE_CONFIG, else the embedded Azurite

# [leads]                          # optional: where customer leads go; a test lead is sent
# destination = "table"            # none, table (Azure Table) or https (JSON endpoint)
# contact_email = "leads@contoso.example"
# connection_string_env = "CONTOSO_LEADS_CONNECTION_STRING"   # never inline: it is a secret
# table = "MarketplaceLeads"
# destination = "https"
# url = "https://crm.contoso.example/leads"

[notifications]
# Where publishing status e-mails go; `vmcert publish --email` overrides.
emails = ["publishing@contoso.example"]
"""


def write_template(directory: Path, *, force: bool = False) -> Path:
    """Write ``offer.toml`` and its logo into ``directory`` (overwrites only with ``force``)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / OFFER_FILE
    if target.exists() and not force:
        raise OfferFileError(f"{target}: already exists; pass --force to overwrite it")
    target.write_text(TEMPLATE, encoding="utf-8")
    logo = directory / LOGO_FILE
    if force or not logo.exists():
        logo.write_bytes(square_png(216, (0x00, 0x78, 0xD4)))
    return target


def square_png(size: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain ``size`` x ``size`` PNG of one colour (no image library needed)."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
