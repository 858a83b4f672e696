"""What every handler shares: the store, the settings, sessions, limits and the templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from harness.publish.settings import PublishSettings
from harness.publish.store import Store
from harness.web.auth import SESSION_COOKIE, Session, Sessions
from harness.web.config import WebConfig
from harness.web.limits import RateLimiter
from harness.web.selftest import SelftestRunner
from harness.web.service import Publisher

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def stamp(value: datetime | None) -> str:
    """UTC time as the pages show it."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class WebContext:
    store: Store
    settings: PublishSettings
    config: WebConfig
    sessions: Sessions = field(init=False)
    api_limiter: RateLimiter = field(init=False)
    signin_limiter: RateLimiter = field(init=False)
    publisher: Publisher = field(init=False)
    selftest: SelftestRunner = field(init=False)
    templates: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.config.session_seconds)
        self.api_limiter = RateLimiter(self.config.rate_per_minute)
        self.signin_limiter = RateLimiter(self.config.signin_per_minute)
        self.publisher = Publisher(self.store, self.settings)
        self.selftest = SelftestRunner(self.settings.data_dir / "selftest" / "known_hosts")
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            finalize=self._finalize,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["stamp"] = stamp

    def _finalize(self, value: object) -> object:
        # Every string a template prints passes the masker: a secret that reached a stage
        # message or an offer field is shown as *** (autoescaping happens after this).
        return self.settings.masker.mask(value) if isinstance(value, str) else value

    def session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    def render(
        self, name: str, request: Request, status_code: int = 200, **values: object
    ) -> HTMLResponse:
        session = self.session(request)
        flash: list[tuple[str, str]] = []
        if session is not None:
            flash, session.flash = session.flash, []
        html = self.templates.get_template(name).render(
            session=session, flash=flash, path=request.url.path, **values
        )
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
