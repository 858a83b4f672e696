"""The offer file: one TOML file describing an offer, read defensively and checked per field.

:func:`load_offer` never raises for content problems: it returns the typed :class:`Offer` (with
empty values where a field is missing or unusable) and every :class:`FieldProblem`, each naming
the field it concerns (``plans[0].recommended_sizes``). Only a file that cannot be read as TOML
at all raises :class:`~harness.publish.errors.OfferFileError`. The rules are Validate
prerequisites' (reference §2.6); ``vmcert offer validate`` and stage 1 use the same function.

Hostile input is bounded: the file is read up to :data:`MAX_FILE_BYTES`, every text and list has
a limit, problems are capped at :data:`MAX_PROBLEMS`. Markup in a field is kept as text; every
view escapes it. Secrets come from ``*_env`` variables (or inline, discouraged) and are held in
:class:`~harness.publish.secrets.Secret`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from harness.publish.errors import OfferFileError
from harness.publish.secrets import Secret

MAX_FILE_BYTES = 1024 * 1024
MAX_PROBLEMS = 200
MAX_TEXT = 10_000
"""Cap on any text field without a tighter documented limit."""
MAX_LOGO_BYTES = 1024 * 1024

ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,30}$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SEMVER_RE = re.compile(r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$")
REGION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
"""Control characters (tab and newline excepted) and bidi overrides: never in an offer's text."""
_LINE_BREAK_RE = re.compile(r"[\n\u2028\u2029]")

LOGO_SIZES: dict[str, tuple[int, int, int, int]] = {
    # name: (min width, max width, min height, max height); large is required (Partner Center)
    "large": (216, 350, 216, 350),
    "medium": (90, 90, 90, 90),
    "small": (48, 48, 48, 48),
    "wide": (255, 255, 115, 115),
}
LeadKind = Literal["none", "table", "https"]


@dataclass(frozen=True)
class FieldProblem:
    """A problem with one field, shown next to it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Contact:
    name: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Listing:
    summary: str = ""
    long_summary: str = ""
    description: str = ""
    privacy_policy_url: str = ""
    categories: tuple[str, ...] = ()
    use_standard_contract: bool = False
    terms_of_use: str = ""
    logos: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanImage:
    """One image version of a plan: a local file (``path``) or a URI."""

    version: str
    source: str
    path: Path | None
    """Resolved against the offer file's directory; ``None`` for a URI."""


@dataclass(frozen=True)
class Plan:
    id: str = ""
    name: str = ""
    summary: str = ""
    description: str = ""
    os_family: str = ""
    os_type: str = ""
    os_friendly_name: str = ""
    generation: int = 1
    recommended_sizes: tuple[str, ...] = ()
    images: tuple[PlanImage, ...] = ()


@dataclass(frozen=True)
class Leads:
    destination: LeadKind = "none"
    contact_email: str = ""
    connection_string: Secret | None = None
    table: str = "MarketplaceLeads"
    url: str = ""
    ca_file: Path | None = None
    """A CA bundle to trust for the HTTPS endpoint (a private or test CA)."""


@dataclass(frozen=True)
class Offer:
    """A parsed offer file (possibly with problems; see :class:`OfferCheck`)."""

    id: str = ""
    publisher: str = ""
    name: str = ""
    listing: Listing = field(default_factory=Listing)
    support: Contact = field(default_factory=Contact)
    engineering: Contact = field(default_factory=Contact)
    preview_subscriptions: tuple[str, ...] = ()
    plans: tuple[Plan, ...] = ()
    regions: tuple[str, ...] = ()
    storage_config: Path | None = None
    leads: Leads = field(default_factory=Leads)
    notification_emails: tuple[str, ...] = ()
    source: Path | None = None
    text: str = field(default="", repr=False)
    """The file as read (may contain inline secrets: mask before showing)."""

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret this offer holds (to register with a masker)."""
        found = [self.leads.connection_string]
        return tuple(s for s in found if s is not None)


@dataclass(frozen=True)
class OfferCheck:
    """An offer and the problems found in it (empty when it passes Validate prerequisites)."""

    offer: Offer
    problems: tuple[FieldProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def read_offer_text(path: Path) -> str:
    """The file's text, bounded in size; one-line errors naming the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise OfferFileError(
            f"{path}: no such offer file (`vmcert offer init` writes one)"
        ) from None
    except IsADirectoryError:
        raise OfferFileError(f"{path}: is a directory, not an offer file") from None
    except OSError as exc:
        raise OfferFileError(f"{path}: cannot read the offer file: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise OfferFileError(
            f"{path}: the offer file is larger than {MAX_FILE_BYTES // 1024} KiB; an offer file "
            "holds text only (images and logos are separate files it names)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OfferFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


def load_offer(path: Path, env: Mapping[str, str] | None = None) -> OfferCheck:
    """Read and check an offer file (see the module docstring)."""
    text = read_offer_text(path)
    return parse_offer(text, base_dir=path.parent, source=path, env=env)


def parse_offer(
    text: str,
    *,
    base_dir: Path,
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> OfferCheck:
    """Check offer TOML ``text``; relative paths resolve against ``base_dir``."""
    name = str(source) if source is not None else "offer"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OfferFileError(f"{name}: not valid TOML: {exc}") from None
    problems: list[FieldProblem] = []
    reader = _Reader(data, "", problems, base_dir, os.environ if env is None else env)
    offer = _offer(reader, source, text)
    if len(problems) > MAX_PROBLEMS:
        extra = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], FieldProblem("(file)", f"... and {extra} more")]
    return OfferCheck(offer, tuple(problems))


# ------------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------------

SECTIONS = (
    "offer",
    "listing",
    "contacts",
    "preview",
    "plans",
    "provisioning",
    "leads",
    "notifications",
)


def _offer(root: _Reader, source: Path | None, text: str) -> Offer:
    head = root.table("offer")
    offer_id = head.text("id", max_len=50, pattern=ID_RE, hint="lowercase letters, digits, dashes")
    publisher = head.text("publisher", max_len=50, pattern=ID_RE, hint="lowercase, digits, dashes")
    name = head.text("name", max_len=200)
    head.done()
    listing = _listing(root.table("listing"))
    contacts = root.table("contacts")
    support = _contact(contacts.table("support"))
    engineering = _contact(contacts.table("engineering"))
    contacts.done()
    preview = root.table("preview")
    subscriptions = preview.texts(
        "subscriptions", min_items=1, max_items=100, pattern=GUID_RE, hint="a subscription GUID"
    )
    preview.done()
    plans = tuple(_plan(plan) for plan in root.tables("plans", min_items=1, max_items=100))
    _unique(root, "plans", [p.id for p in plans], "id")
    provisioning = root.table("provisioning")
    regions = provisioning.texts("regions", min_items=1, max_items=64, pattern=REGION_RE)
    _unique(root, "provisioning.regions", list(regions), None)
    storage_config = provisioning.path("storage_config", required=False)
    provisioning.done()
    leads = _leads(root.table("leads", required=False))
    notifications = root.table("notifications", required=False)
    emails = notifications.texts(
        "emails", required=False, max_items=20, pattern=EMAIL_RE, hint="an e-mail address"
    )
    notifications.done()
    root.done()
    return Offer(
        id=offer_id,
        publisher=publisher,
        name=name,
        listing=listing,
        support=support,
        engineering=engineering,
        preview_subscriptions=subscriptions,
        plans=plans,
        regions=regions,
        storage_config=storage_config,
        leads=leads,
        notification_emails=emails,
        source=source,
        text=text,
    )


def _listing(r: _Reader) -> Listing:
    summary = r.text("summary", max_len=100)
    long_summary = r.text("long_summary", max_len=256)
    description = r.text("description", max_len=3000, single_line=False)
    url = r.text("privacy_policy_url", max_len=2048)
    if url and not _https_url(url):
        r.problem("privacy_policy_url", "must be an absolute https:// URL")
    categories = r.texts("categories", min_items=1, max_items=2, item_max=50)
    standard = r.boolean("use_standard_contract")
    terms = r.text("terms_of_use", required=False, max_len=10_000, single_line=False)
    if not standard and not terms and r.data.get("use_standard_contract") in (None, False):
        r.problem("use_standard_contract", "set it to true, or give terms_of_use")
    logos_table = r.table("logos")
    logos: dict[str, Path] = {}
    for kind in LOGO_SIZES:
        logo = logos_table.path(kind, required=kind == "large")
        if logo is not None and _logo_ok(logos_table, kind, logo):
            logos[kind] = logo
    logos_table.done()
    r.done()
    contract = bool(standard)
    return Listing(summary, long_summary, description, url, categories, contract, terms, logos)


def _contact(r: _Reader) -> Contact:
    name = r.text("name", max_len=100)
    email = r.text("email", max_len=254, pattern=EMAIL_RE, hint="an e-mail address")
    phone = r.text("phone", max_len=32, pattern=PHONE_RE, hint="digits, spaces, + ( ) - .")
    r.done()
    return Contact(name, email, phone)


def _plan(r: _Reader) -> Plan:
    plan_id = r.text("id", max_len=50, pattern=ID_RE, hint="lowercase letters, digits, dashes")
    name = r.text("name", max_len=100)
    summary = r.text("summary", max_len=100)
    description = r.text("description", max_len=3000, single_line=False)
    family = r.text("os_family", max_len=10, choices=("linux", "windows"))
    os_type = r.text("os_type", max_len=50)
    friendly = r.text("os_friendly_name", max_len=100)
    generation = r.integer("generation", choices=(1, 2))
    sizes = r.texts("recommended_sizes", min_items=1, max_items=6, item_max=64)
    images_table = r.table("images")
    images: list[PlanImage] = []
    for version, source in images_table.items(max_items=8):
        where = f"{images_table.prefix}{_key(version)}"
        if not SEMVER_RE.match(version):
            r.problem_at(where, "an image version is MAJOR.MINOR.PATCH, e.g. 1.0.0")
            continue
        if not isinstance(source, str) or not source.strip():
            r.problem_at(where, f"expected the image file or URI (a string), got {_kind(source)}")
            continue
        if len(source) > 2048 or _CONTROL_RE.search(source):
            r.problem_at(where, "not a usable file name or URI")
            continue
        scheme = urlsplit(source).scheme
        path = None if scheme in ("http", "https") else r.base_dir / source
        images.append(PlanImage(version, source, path))
    if not images:
        r.problem("images", 'at least one image version is required ("1.0.0" = "disk.vhd")')
    r.done()
    return Plan(
        plan_id,
        name,
        summary,
        description,
        family,
        os_type,
        friendly,
        generation or 1,
        sizes,
        tuple(images),
    )


def _leads(r: _Reader) -> Leads:
    if not r.present:
        return Leads()
    kind = r.text("destination", max_len=10, choices=("none", "table", "https"))
    if kind not in ("table", "https"):
        r.done(
            allow=(
                "contact_email",
                "connection_string",
                "connection_string_env",
                "table",
                "url",
                "ca_file",
            )
        )
        return Leads()
    contact = r.text("contact_email", max_len=254, pattern=EMAIL_RE, hint="an e-mail address")
    if kind == "table":
        secret = r.secret("connection_string")
        table = r.text("table", required=False, max_len=63, pattern=TABLE_RE, hint="3-63 letters")
        r.done(allow=("url", "ca_file"))
        return Leads("table", contact, secret, table or "MarketplaceLeads")
    url = r.text("url", max_len=2048)
    if url and not _https_url(url):
        r.problem("url", "must be an absolute https:// URL")
    ca_file = r.path("ca_file", required=False)
    r.done(allow=("connection_string", "connection_string_env", "table"))
    return Leads("https", contact, None, url=url, ca_file=ca_file)


# ------------------------------------------------------------------------------------------------
# A defensive reader of one TOML table
# ------------------------------------------------------------------------------------------------


class _Reader:
    """Reads typed values from one TOML table and records a problem for each bad field."""

    def __init__(
        self,
        table: object,
        prefix: str,
        problems: list[FieldProblem],
        base_dir: Path,
        env: Mapping[str, str],
        *,
        present: bool = True,
    ) -> None:
        self.data: Mapping[str, object] = table if isinstance(table, dict) else {}
        self.prefix = prefix
        self.problems = problems
        self.base_dir = base_dir
        self.env = env
        self.present = present
        self._seen: set[str] = set()

    # -- problems --------------------------------------------------------------------------------

    def problem(self, key: str, message: str) -> None:
        self.problem_at(self.prefix + key, message)

    def problem_at(self, where: str, message: str) -> None:
        if len(self.problems) <= MAX_PROBLEMS:
            self.problems.append(FieldProblem(where, message))

    def _get(self, key: str) -> object | None:
        self._seen.add(key)
        return self.data.get(key)

    def done(self, allow: tuple[str, ...] = ()) -> None:
        """Report keys nobody read (typos): they would otherwise be silently ignored."""
        for key in self.data:
            if key not in self._seen and key not in allow:
                self.problem(_key(key), "unknown field (check the spelling; `vmcert offer init`)")

    # -- values ----------------------------------------------------------------------------------

    def text(
        self,
        key: str,
        *,
        required: bool = True,
        max_len: int = MAX_TEXT,
        single_line: bool = True,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
        choices: tuple[str, ...] = (),
    ) -> str:
        value = self._get(key)
        if value is None:
            if required and self.present:
                self.problem(key, "required")
            elif required:
                self.problem(key, "required (its table is missing)")
            return ""
        if not isinstance(value, str):
            self.problem(key, f"expected text, got {_kind(value)}")
            return ""
        return self._check_text(key, value, required, max_len, single_line, pattern, hint, choices)

    def _check_text(
        self,
        key: str,
        value: str,
        required: bool,
        max_len: int,
        single_line: bool,
        pattern: re.Pattern[str] | None,
        hint: str,
        choices: tuple[str, ...],
    ) -> str:
        if not value.strip():
            if required:
                self.problem(key, "required (it is empty)")
            return ""
        if len(value) > max_len:
            self.problem(key, f"at most {max_len} characters (it has {len(value)})")
            return ""
        bad = _CONTROL_RE.search(value) or (_LINE_BREAK_RE.search(value) if single_line else None)
        if bad:
            self.problem(key, f"contains a control character (U+{ord(bad.group()):04X})")
            return ""
        if choices and value not in choices:
            self.problem(key, "one of " + ", ".join(choices))
            return ""
        if pattern is not None and not pattern.match(value):
            self.problem(key, f"not valid: {hint}" if hint else "not valid")
            return ""
        return value

    def texts(
        self,
        key: str,
        *,
        required: bool = True,
        min_items: int = 0,
        max_items: int = 100,
        item_max: int = 256,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
    ) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            if required:
                self.problem(key, "required" + (f" (at least {min_items})" if min_items else ""))
            return ()
        if not isinstance(value, list):
            self.problem(key, f"expected a list of text, got {_kind(value)}")
            return ()
        if len(value) > max_items:
            self.problem(key, f"at most {max_items} entries (it has {len(value)})")
            return ()
        if required and len(value) < min_items:
            self.problem(key, f"at least {min_items} required")
        out: list[str] = []
        for index, item in enumerate(value):
            where = f"{key}[{index}]"
            if not isinstance(item, str):
                self.problem(where, f"expected text, got {_kind(item)}")
                continue
            checked = self._check_text(where, item, True, item_max, True, pattern, hint, ())
            if checked:
                out.append(checked)
        return tuple(out)

    def integer(self, key: str, *, choices: tuple[int, ...]) -> int | None:
        value = self._get(key)
        if value is None:
            self.problem(key, "required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"expected a number, got {_kind(value)}")
            return None
        if value not in choices:
            self.problem(key, "one of " + ", ".join(str(c) for c in choices))
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problem(key, f"expected true or false, got {_kind(value)}")
            return None
        return value

    def path(self, key: str, *, required: bool) -> Path | None:
        text = self.text(key, required=required, max_len=1024)
        return self.base_dir / text if text else None

    def secret(self, key: str) -> Secret | None:
        """``key`` inline or ``key_env`` naming an environment variable (preferred)."""
        env_key = f"{key}_env"
        name = self.text(env_key, required=False, max_len=128)
        inline = self._get(key)
        if name and inline is not None:
            self.problem(key, f"give {key} or {env_key}, not both")
            return None
        if name:
            value = self.env.get(name)
            if not value:
                self.problem(env_key, f"the environment variable {name} is not set")
                return None
            return Secret(value, f"env:{name}")
        if inline is None:
            self.problem(env_key, f"required (the variable that holds the {key})")
            return None
        if not isinstance(inline, str) or not inline.strip() or len(inline) > 4096:
            self.problem(key, f"expected text, got {_kind(inline)}")
            return None
        return Secret(inline, "inline")

    def items(self, *, max_items: int) -> Iterator[tuple[str, object]]:
        self._seen.update(self.data)
        if len(self.data) > max_items:
            self.problem_at(self.prefix.rstrip("."), f"at most {max_items} entries")
            return
        yield from self.data.items()

    # -- tables ----------------------------------------------------------------------------------

    def table(self, key: str, *, required: bool = True) -> _Reader:
        value = self._get(key)
        prefix = f"{self.prefix}{key}."
        if value is None:
            if required:
                self.problem(key, "required section is missing")
            return _Reader({}, prefix, self.problems, self.base_dir, self.env, present=False)
        if not isinstance(value, dict):
            self.problem(key, f"expected a table ([{self.prefix}{key}]), got {_kind(value)}")
            return _Reader({}, prefix, self.problems, self.base_dir, self.env, present=False)
        return _Reader(value, prefix, self.problems, self.base_dir, self.env)

    def tables(self, key: str, *, min_items: int, max_items: int) -> list[_Reader]:
        value = self._get(key)
        if value is None:
            self.problem(key, f"at least {min_items} required ([[{key}]])")
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(key, f"expected tables ([[{key}]]), got {_kind(value)}")
            return []
        if len(value) > max_items:
            self.problem(key, f"at most {max_items} (it has {len(value)})")
            return []
        if len(value) < min_items:
            self.problem(key, f"at least {min_items} required ([[{key}]])")
        return [
            _Reader(v, f"{self.prefix}{key}[{i}].", self.problems, self.base_dir, self.env)
            for i, v in enumerate(value)
        ]


def _unique(r: _Reader, where: str, values: list[str], attribute: str | None) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value and value in seen:
            at = f"{where}[{index}]" + (f".{attribute}" if attribute else "")
            r.problem_at(at, f"duplicate {value!r}")
        seen.add(value)


def _logo_ok(r: _Reader, kind: str, path: Path) -> bool:
    """A PNG of the documented size; reads the header only."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError:
        r.problem(kind, f"no such file: {path.name}")
        return False
    if size > MAX_LOGO_BYTES:
        r.problem(kind, f"at most {MAX_LOGO_BYTES // 1024} KiB")
        return False
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        r.problem(kind, "must be a PNG file")
        return False
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    low_w, high_w, low_h, high_h = LOGO_SIZES[kind]
    square = kind != "large" or width == height
    if not (low_w <= width <= high_w and low_h <= height <= high_h and square):
        wanted = f"{low_w}x{low_h}" + (f" to {high_w}x{high_h}, square" if high_w != low_w else "")
        r.problem(kind, f"must be {wanted} pixels (it is {width}x{height})")
        return False
    return True


def _https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname)


def _kind(value: object) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list"}
    if isinstance(value, dict):
        return "a table"
    return names.get(type(value), type(value).__name__)


def _key(key: str) -> str:
    """A TOML key as written in a dotted field name (quoted when it is not bare)."""
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else '"' + key.replace('"', '\\"') + '"'
