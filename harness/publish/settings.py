"""Where the pipeline keeps its state and how it reaches the world: data directory, database
URL, SMTP relay, cancel window, stage estimates, leases.

Defaults need nothing: SQLite in the user's data directory, e-mail to an outbox there, CPP's
cancel rule. A settings file (``--settings``, ``$VMCERT_PUBLISH_SETTINGS``, else
``publish.toml`` in the user's config directory when it exists) and two environment variables
(``VMCERT_DATA_DIR``, ``VMCERT_PUBLISH_DB``) change them::

    [publish]
    database_url_env = "VMCERT_PUBLISH_DB"   # or database_url = "postgresql+psycopg://..."
    cancel_window = "at_signoff"             # or "before_signoff" (Partner Center's rule)
    support_email = "support@vmcert.example"
    lease_seconds = 120                      # a stage whose worker vanished is taken over after
    [publish.estimates]
    certification = "< 5 days"

    [smtp]
    host = "smtp.contoso.example"
    port = 587
    starttls = true
    username = "publishing"
    password_env = "VMCERT_SMTP_PASSWORD"
    sender = "vmcert@contoso.example"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from harness.publish.errors import SettingsError
from harness.publish.model import INFO, CancelWindow, Stage
from harness.publish.secrets import Masker, Secret

DATA_DIR_ENV = "VMCERT_DATA_DIR"
DB_ENV = "VMCERT_PUBLISH_DB"
SETTINGS_ENV = "VMCERT_PUBLISH_SETTINGS"


@dataclass(frozen=True)
class SmtpSettings:
    """An SMTP relay; without one, e-mail goes to the outbox in the data directory."""

    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: Secret | None = None
    sender: str = "vmcert@localhost"
    ca_file: Path | None = None
    """CA bundle for the relay's certificate (a private or test CA); default: the system's."""
    timeout: float = 30.0


@dataclass(frozen=True)
class PublishSettings:
    """Everything the pipeline needs besides the offer."""

    data_dir: Path
    database_url: str
    smtp: SmtpSettings | None = None
    sender: str = "vmcert@localhost"
    cancel_window: CancelWindow = CancelWindow.AT_SIGNOFF
    estimates: Mapping[Stage, str] = field(default_factory=dict)
    support_email: str | None = None
    lease_seconds: float = 120.0
    tick_seconds: float = 0.5
    retry_limit: int = 3
    """How often a stage that hit an infrastructure error is tried again before it fails."""
    retry_delay_seconds: float = 30.0
    workers: int = 2
    masker: Masker = field(default_factory=Masker, compare=False, repr=False)

    def estimate(self, stage: Stage) -> str:
        return self.estimates.get(stage, INFO[stage].estimate)

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def work_dir(self, offer_id: str, number: int, stage: Stage) -> Path:
        """Where a stage of a request keeps its logs and artifacts."""
        return self.data_dir / "offers" / offer_id / "requests" / str(number) / stage.value


def default_data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get(DATA_DIR_ENV) or platformdirs.user_data_dir("vmcert"))


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> PublishSettings:
    """Settings from ``path`` (or the default file) and the environment."""
    env = os.environ if env is None else env
    if path is None:
        named = env.get(SETTINGS_ENV)
        default = Path(platformdirs.user_config_dir("vmcert")) / "publish.toml"
        path = Path(named) if named else (default if default.is_file() else None)
    data: dict[str, object] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read the settings file: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    where = str(path) if path is not None else "settings"
    publish = _table(data, "publish", where)
    masker = Masker()
    data_dir = default_data_dir(env)
    db_url = env.get(DB_ENV) or _db_url(publish, env, where)
    if db_url is None:
        db_url = f"sqlite:///{data_dir / 'publish.db'}"
    smtp = _smtp(_table(data, "smtp", where), env, where, path)
    if smtp is not None and smtp.password is not None:
        masker.add(smtp.password)
    window = str(publish.get("cancel_window", CancelWindow.AT_SIGNOFF.value))
    try:
        cancel_window = CancelWindow(window)
    except ValueError:
        raise SettingsError(
            f"{where}: publish.cancel_window is at_signoff or before_signoff, not {window!r}"
        ) from None
    estimates: dict[Stage, str] = {}
    for key, value in _table(publish, "estimates", where).items():
        try:
            estimates[Stage(key)] = str(value)
        except ValueError:
            names = ", ".join(s.value for s in Stage)
            raise SettingsError(
                f"{where}: publish.estimates.{key}: not a stage ({names})"
            ) from None
    return PublishSettings(
        data_dir=data_dir,
        database_url=db_url,
        smtp=smtp,
        sender=smtp.sender if smtp is not None else "vmcert@localhost",
        cancel_window=cancel_window,
        estimates=estimates,
        support_email=_opt_str(publish, "support_email", where),
        lease_seconds=_number(publish, "lease_seconds", 120.0, where),
        tick_seconds=_number(publish, "tick_seconds", 0.5, where),
        retry_limit=int(_number(publish, "retry_limit", 3, where)),
        retry_delay_seconds=_number(publish, "retry_delay_seconds", 30.0, where),
        masker=masker,
    )


def _table(data: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{where}: [{key}] must be a table")
    return value


def _opt_str(table: Mapping[str, object], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SettingsError(f"{where}: {key} must be text")
    return value


def _number(table: Mapping[str, object], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SettingsError(f"{where}: {key} must be a positive number")
    return float(value)


def _db_url(publish: Mapping[str, object], env: Mapping[str, str], where: str) -> str | None:
    url = _opt_str(publish, "database_url", where)
    name = _opt_str(publish, "database_url_env", where)
    if name:
        url = env.get(name)
        if not url:
            raise SettingsError(f"{where}: publish.database_url_env: {name} is not set")
    return url


def _smtp(
    table: Mapping[str, object], env: Mapping[str, str], where: str, path: Path | None
) -> SmtpSettings | None:
    host = _opt_str(table, "host", where)
    if not host:
        return None
    password: Secret | None = None
    password_env = _opt_str(table, "password_env", where)
    if password_env:
        value = env.get(password_env)
        if not value:
            raise SettingsError(f"{where}: smtp.password_env: {password_env} is not set")
        password = Secret(value, f"env:{password_env}")
    elif (inline := _opt_str(table, "password", where)) is not None:
        password = Secret(inline)
    port = table.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise SettingsError(f"{where}: smtp.port must be a port number")
    starttls = table.get("starttls", True)
    if not isinstance(starttls, bool):
        raise SettingsError(f"{where}: smtp.starttls must be true or false")
    ca = _opt_str(table, "ca_file", where)
    base = path.parent if path is not None else Path.cwd()
    return SmtpSettings(
        host=host,
        port=port,
        starttls=starttls,
        username=_opt_str(table, "username", where),
        password=password,
        sender=_opt_str(table, "sender", where) or "vmcert@localhost",
        ca_file=base / ca if ca else None,
    )
