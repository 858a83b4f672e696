"""``vmcert serve``: the console and API on 127.0.0.1, with the pipeline's worker (the ticker
and the in-process executor) running in the same process."""

from __future__ import annotations

import getpass
import os
import secrets
import sys
import threading
from pathlib import Path

import click

from harness.web.auth import hash_password, token_digest
from harness.web.config import WebConfig, WebConfigError, load_accounts

TOKEN_ENV = "VMCERT_WEB_TOKEN"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--accounts",
    "accounts_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with an [accounts] table: name = password hash.",
)
@click.option(
    "--token-env",
    default=TOKEN_ENV,
    show_default=True,
    help="Variable holding the API bearer token (also a sign-in password). Unset: a random "
    "token is made and printed once.",
)
@click.option(
    "--insecure-cookies",
    is_flag=True,
    help="Cookies without Secure (only for a plain-HTTP address other than 127.0.0.1).",
)
@click.option("--no-worker", is_flag=True, help="Serve only; `vmcert publish-worker` runs stages.")
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Publishing settings file (default: $VMCERT_PUBLISH_SETTINGS or publish.toml).",
)
@click.option("--hash-password", "hash_only", is_flag=True, help="Read a password, print its hash.")
def serve_command(
    host: str,
    port: int,
    accounts_file: Path | None,
    token_env: str,
    insecure_cookies: bool,
    no_worker: bool,
    settings_file: Path | None,
    hash_only: bool,
) -> int:
    """Serve the publisher console and the JSON API (and run the pipeline's stages)."""
    if hash_only:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline()
        password = password.rstrip("\n")
        if not password:
            raise WebConfigError("an empty password cannot sign in; give one")
        click.echo(hash_password(password))
        return 0
    import uvicorn

    from harness.publish.settings import load_settings
    from harness.web.app import create_app

    settings = load_settings(settings_file)
    accounts = load_accounts(accounts_file) if accounts_file is not None else {}
    token = os.environ.get(token_env, "")
    if not token:
        token = secrets.token_urlsafe(24)
        click.echo(
            f"vmcert serve: ${token_env} is not set; this run's API token (also a sign-in "
            f"password for any user name) is: {token}",
            err=True,
        )
    config = WebConfig(
        accounts=accounts,
        api_tokens={token_digest(token): "api"},
        secure_cookies=not insecure_cookies,
    )
    stop = threading.Event()
    if no_worker:
        from harness.publish.store import open_store

        store = open_store(settings)
        close = store.close
        worker: threading.Thread | None = None
    else:
        from harness.publish.adapters import default_stages
        from harness.publish.pipeline import Pipeline

        pipeline = Pipeline(settings, default_stages(settings))
        store, close = pipeline.store, pipeline.close
        worker = threading.Thread(
            target=pipeline.ticker.run, args=(stop,), name="vmcert-ticker", daemon=True
        )
        worker.start()
    click.echo(f"vmcert serve: http://{host}:{port}/ (Ctrl-C stops)", err=True)
    try:
        uvicorn.run(create_app(store, settings, config), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        close()
    return 0
