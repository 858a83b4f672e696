"""The product page: one self-contained HTML file from the offer's content and plans.

Everything from the offer is escaped (markup in a field shows as text, never runs); the logo is
embedded as a data URI; a Content-Security-Policy forbids scripts and any fetch, so the page
works offline and cannot call out.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from harness.publish.offer import MAX_LOGO_BYTES, Offer

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1b1b;padding:0 1rem}
header{display:flex;gap:1.5rem;align-items:center}header img{width:96px;height:96px}
h1{margin:0}.publisher{color:#555}.summary{font-size:1.1rem}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4rem;text-align:left}
.description{white-space:pre-wrap}footer{margin-top:2rem;color:#555;font-size:.9rem}
"""


def render_product_page(offer: Offer) -> str:
    """The page's HTML (every offer value escaped)."""
    listing = offer.listing
    logo = _logo(offer)
    rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{escape(value)}</td>"
            for value in (
                plan.name,
                plan.summary,
                f"{plan.os_friendly_name} ({plan.os_family}, {plan.os_type})",
                f"Gen {plan.generation}",
                ", ".join(plan.recommended_sizes),
                ", ".join(image.version for image in plan.images),
            )
        )
        + "</tr>"
        for plan in offer.plans
    )
    categories = ", ".join(listing.categories)
    support = offer.support
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(offer.name)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
{logo}
<div><h1>{escape(offer.name)}</h1>
<p class="publisher">{escape(offer.publisher)} &middot; {escape(categories)}</p></div>
</header>
<p class="summary">{escape(listing.summary)}</p>
<p>{escape(listing.long_summary)}</p>
<h2>Overview</h2>
<div class="description">{escape(listing.description.strip())}</div>
<h2>Plans</h2>
<table>
<thead><tr><th>Plan</th><th>Summary</th><th>Operating system</th><th>Generation</th>
<th>Recommended sizes</th><th>Versions</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<h2>Support</h2>
<p>{escape(support.name)} &middot; {escape(support.email)} &middot; {escape(support.phone)}</p>
<footer>
<p>Privacy policy: {escape(listing.privacy_policy_url)}</p>
<p>{"Standard Contract" if listing.use_standard_contract else escape(listing.terms_of_use)}</p>
</footer>
</body>
</html>
"""


def _logo(offer: Offer) -> str:
    path = offer.listing.logos.get("large")
    if path is None or not path.is_file() or path.stat().st_size > MAX_LOGO_BYTES:
        return ""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return ""
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{escape(offer.name)} logo" src="data:image/png;base64,{encoded}">'


def write_product_page(offer: Offer, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_product_page(offer), encoding="utf-8")
    return path
