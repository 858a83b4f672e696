"""The pipeline's commands: ``offer init|validate``, ``publish``, ``status``, ``offers``,
``history``, ``go-live``, ``cancel``, ``catalog``, ``outbox``, ``support``, ``publish-worker``.

``publish`` and ``go-live`` run the stages in this process (the in-process executor) until the
request waits for the publisher or ends; ``--no-wait`` leaves that to ``vmcert publish-worker``.
A command killed mid-stage loses nothing: the next ``publish-worker`` (or ``publish``/``go-live``
run) resumes the stage.
"""

from __future__ import annotations

import getpass
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.publish.model import INFO, RequestStatus, Stage, StepStatus
from harness.publish.offer import load_offer
from harness.publish.settings import PublishSettings, load_settings
from harness.publish.status import never_published, status_document
from harness.publish.views import RequestView

if TYPE_CHECKING:
    from harness.publish.pipeline import Pipeline
    from harness.publish.store import Store

_settings_option = click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Publishing settings file (default: $VMCERT_PUBLISH_SETTINGS or publish.toml).",
)
_actor_option = click.option(
    "--as", "actor", default=None, help="Who acts, for the history (default: your user name)."
)
_wait_option = click.option(
    "--wait/--no-wait",
    default=True,
    help="Run the stages here until the request waits for you or ends (default), or return.",
)
_timeout_option = click.option(
    "--timeout", default=86_400.0, show_default=True, help="Seconds to wait with --wait."
)
_server_option = click.option(
    "--server",
    default=None,
    metavar="URL",
    help="A running `vmcert serve` to act through (its API; token from $VMCERT_WEB_TOKEN).",
)


def _settings(path: Path | None) -> PublishSettings:
    return load_settings(path)


def _actor(actor: str | None) -> str:
    if actor:
        return actor[:200]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "publisher"


def _pipeline(settings: PublishSettings) -> Pipeline:
    from harness.publish.adapters import default_stages
    from harness.publish.pipeline import Pipeline

    return Pipeline(settings, default_stages(settings))


def _store(settings: PublishSettings) -> Store:
    from harness.publish.store import open_store

    return open_store(settings)


# -- offer init | validate -------------------------------------------------------------------


@click.group("offer")
def offer_group() -> None:
    """Write and check offer files."""


@offer_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite an existing offer.toml.")
def offer_init_command(directory: Path, force: bool) -> None:
    """Write a commented offer.toml (and its logo) into DIRECTORY."""
    from harness.publish.errors import OfferFileError
    from harness.publish.template import write_template

    if directory.suffix == ".toml" and not directory.is_dir():
        # `offer init offer.toml` would make a directory called offer.toml
        raise OfferFileError(
            f"{directory}: offer init takes the directory to write offer.toml into, not a "
            f"file name; run: vmcert offer init {directory.parent}"
        )
    path = write_template(directory, force=force)
    click.echo(f"wrote {path}; edit it, then: vmcert offer validate {path}")


@offer_group.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def offer_validate_command(file: Path) -> int:
    """Check FILE as Validate prerequisites does; one line per problem, next to its field."""
    check = load_offer(file)
    if check.ok:
        click.echo(f"{file}: valid ({len(check.offer.plans)} plan(s))")
        return 0
    for problem in check.problems:
        click.echo(f"{file}: {problem}")
    click.echo(f"{file}: {len(check.problems)} problem(s)", err=True)
    return 1


# -- publish, go-live, cancel ----------------------------------------------------------------


@click.command("publish")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--email", "emails", multiple=True, help="Notification e-mail (repeatable).")
@_wait_option
@_timeout_option
@_actor_option
@_settings_option
@_server_option
def publish_command(
    file: Path,
    emails: tuple[str, ...],
    wait: bool,
    timeout: float,
    actor: str | None,
    settings_file: Path | None,
    server: str | None,
) -> int:
    """Start publishing the offer in FILE: a new request at Validate prerequisites."""
    from harness.publish.offer import EMAIL_RE

    for email in emails:
        if not EMAIL_RE.match(email):
            raise click.BadParameter(f"{email!r} is not an e-mail address", param_hint="--email")
    if server:
        from harness.web.client import remote_publish

        return remote_publish(server, file, emails, wait, timeout, click.echo)
    pipeline = _pipeline(_settings(settings_file))
    try:
        request = pipeline.publish(file, actor=_actor(actor), emails=emails)
        click.echo(f"offer {request.offer_id}: publish request {request.number} started")
        if not wait:
            return 0
        request = _run(pipeline, request.offer_id, timeout, actor)
        return _report(request)
    finally:
        pipeline.close()


def _run(pipeline: Pipeline, offer_id: str, timeout: float, actor: str | None) -> RequestView:
    """Settle; when Validate prerequisites asks for the e-mail, ask (or fail without a TTY)."""
    while True:
        pipeline.settle(offer_id, timeout)
        request: RequestView | None = pipeline.store.request(offer_id)
        assert request is not None
        validate = request.stage_view(Stage.VALIDATE)
        asking = request.status.active and validate.status is StepStatus.IN_PROGRESS
        if not asking:
            return request
        emails: list[str] = []
        if sys.stdin.isatty():
            answer = click.prompt("Notification e-mail address for this offer", default="")
            emails = [a.strip() for a in answer.split(",") if a.strip()]
        pipeline.store.provide_emails(offer_id, emails, actor=_actor(actor))


def _report(request: RequestView) -> int:
    _print_request(request, click.echo)
    if request.status is RequestStatus.FAILED:
        return 1
    return 0


@click.command("go-live")
@click.argument("offer_id")
@_wait_option
@_timeout_option
@_actor_option
@_settings_option
@_server_option
def go_live_command(
    offer_id: str,
    wait: bool,
    timeout: float,
    actor: str | None,
    settings_file: Path | None,
    server: str | None,
) -> int:
    """Sign off OFFER_ID's preview: it goes Live."""
    if server:
        from harness.web.client import remote_go_live

        return remote_go_live(server, offer_id, wait, timeout, click.echo)
    pipeline = _pipeline(_settings(settings_file))
    try:
        request = pipeline.store.go_live(offer_id, actor=_actor(actor))
        click.echo(f"offer {offer_id}: signed off; going live")
        if wait:
            pipeline.settle(offer_id, timeout)
            request = pipeline.store.request(offer_id) or request
        return _report(request)
    finally:
        pipeline.close()


@click.command("cancel")
@click.argument("offer_id")
@_actor_option
@_settings_option
@_server_option
def cancel_command(
    offer_id: str, actor: str | None, settings_file: Path | None, server: str | None
) -> int:
    """Cancel OFFER_ID's publish request (at Publisher signoff; the window is a setting)."""
    if server:
        from harness.web.client import remote_cancel

        return remote_cancel(server, offer_id, click.echo)
    store = _store(_settings(settings_file))
    try:
        store.cancel(offer_id, actor=_actor(actor))
        click.echo(f"offer {offer_id}: publish request canceled; the status is reset to step 1")
        return 0
    finally:
        store.close()


# -- views -----------------------------------------------------------------------------------


@click.command("status")
@click.argument("offer_id")
@click.option("--json", "as_json", is_flag=True, help="The CPP status resource as JSON.")
@click.option("--request", "number", type=int, default=None, help="An older request's number.")
@_settings_option
@_server_option
def status_command(
    offer_id: str,
    as_json: bool,
    number: int | None,
    settings_file: Path | None,
    server: str | None,
) -> int:
    """The stages of OFFER_ID's newest publish request."""
    if server:
        from harness.web.client import remote_status

        return remote_status(server, offer_id, as_json, number, click.echo)
    store = _store(_settings(settings_file))
    try:
        request = store.request(offer_id, number)
    finally:
        store.close()
    if as_json:
        document = status_document(request) if request else never_published(offer_id)
        click.echo(json.dumps(document, indent=2))
        return 0
    if request is None:
        click.echo(f"offer {offer_id}: never published")
        return 0
    _print_request(request, click.echo)
    return 0


def _print_request(request: RequestView, echo: Callable[[str], None]) -> None:
    echo(
        f"offer {request.offer_id} ({request.offer_name}), request {request.number}: "
        f"{request.status.value}"
    )
    for index, view in enumerate(request.stages, 1):
        mark = {
            StepStatus.COMPLETE: "done",
            StepStatus.IN_PROGRESS: "running",
            StepStatus.WAITING: "waiting",
            StepStatus.BLOCKED: "FAILED",
            StepStatus.CANCELED: "canceled",
            StepStatus.NOT_STARTED: "-",
        }[view.status]
        when = ""
        if view.started_at:
            when = view.started_at.strftime(" %Y-%m-%d %H:%M:%S")
            if view.finished_at:
                when += view.finished_at.strftime(" to %H:%M:%S")
        estimate = f" (est. {view.estimate})" if view.estimate else ""
        echo(f"  {index}. {view.info.name:<44} {mark:<8}{estimate}{when}")
        for message in view.messages[-12:]:
            prefix = "!" if message.level == "error" else "·"
            echo(f"       {prefix} {message.text}")
    if request.stage is Stage.SIGNOFF and request.status is RequestStatus.WAITING:
        echo(f"  next: vmcert go-live {request.offer_id}   (or vmcert cancel {request.offer_id})")
    elif request.status is RequestStatus.FAILED:
        echo("  fix the problem, then `vmcert publish` again: a new request starts at step 1")


@click.command("offers")
@click.option("--json", "as_json", is_flag=True)
@_settings_option
@_server_option
def offers_command(as_json: bool, settings_file: Path | None, server: str | None) -> int:
    """All offers: each offer's status and current stage."""
    if server:
        from harness.web.client import remote_offers

        return remote_offers(server, as_json, click.echo)
    settings = _settings(settings_file)
    store = _store(settings)
    try:
        offers = store.offers()
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": o.offer_id,
                        "name": o.name,
                        "publisher": o.publisher,
                        "status": o.status.value,
                        "stage": INFO[o.stage].step_id if o.stage else None,
                        "estimatedTimeFrame": o.estimate,
                        "request": o.request,
                        "updated": o.updated_at.isoformat(),
                        "listed": o.listed,
                    }
                    for o in offers
                ],
                indent=2,
            )
        )
        return 0
    if not offers:
        click.echo("no offers yet (vmcert offer init; vmcert publish offer.toml)")
    for o in offers:
        stage = INFO[o.stage].name if o.stage else "-"
        estimate = f" ({o.estimate})" if o.estimate else ""
        click.echo(f"{o.offer_id:<30} {o.status.value:<18} {stage}{estimate}  {o.name}")
    return 0


@click.command("history")
@click.argument("offer_id")
@click.option("--json", "as_json", is_flag=True)
@_settings_option
@_server_option
def history_command(
    offer_id: str, as_json: bool, settings_file: Path | None, server: str | None
) -> int:
    """Every event of OFFER_ID: what, who, when."""
    from harness.web.documents import event_document, event_line

    if server:
        from harness.web.client import ApiClient

        documents = ApiClient.from_env(server).history(offer_id)
    else:
        store = _store(_settings(settings_file))
        try:
            documents = [event_document(e) for e in store.history(offer_id)]
        finally:
            store.close()
    for document in documents:
        click.echo(json.dumps(document) if as_json else event_line(document))
    return 0


@click.command("catalog")
@click.option("--subscription", default=None, help="The querying Azure subscription id.")
@_settings_option
@_server_option
def catalog_command(
    subscription: str | None, settings_file: Path | None, server: str | None
) -> int:
    """What a catalog query sees: live offers, and those in preview for its subscription."""
    from harness.web.documents import catalog_document, catalog_line

    if server:
        from harness.web.client import ApiClient

        documents = ApiClient.from_env(server).catalog(subscription)
    else:
        store = _store(_settings(settings_file))
        try:
            documents = [catalog_document(o) for o in store.catalog(subscription)]
        finally:
            store.close()
    for document in documents:
        click.echo(catalog_line(document))
    return 0


@click.command("outbox")
@click.option("--json", "as_json", is_flag=True)
@_settings_option
@_server_option
def outbox_command(as_json: bool, settings_file: Path | None, server: str | None) -> int:
    """The e-mails the pipeline sent or queued (the outbox when no SMTP relay is set)."""
    from harness.web.documents import mail_document, mail_line

    if server:
        from harness.web.client import ApiClient

        documents, directory = ApiClient.from_env(server).outbox()
    else:
        settings = _settings(settings_file)
        store = _store(settings)
        try:
            documents = [mail_document(m) for m in store.mails()]
        finally:
            store.close()
        directory = None if settings.smtp is not None else str(settings.outbox)
    for document in documents:
        click.echo(json.dumps(document) if as_json else mail_line(document))
    if not as_json and directory is not None:
        click.echo(f"outbox directory: {directory}")
    return 0


@click.command("support")
@click.argument("offer_id")
@click.option("--message", default="", help="What the problem is (asked for on a terminal).")
@_actor_option
@_settings_option
@_server_option
def support_command(
    offer_id: str,
    message: str,
    actor: str | None,
    settings_file: Path | None,
    server: str | None,
) -> int:
    """Open a support request: a bundle (secrets masked) and a record, e-mailed."""
    if server:
        from harness.web.client import ApiClient

        client = ApiClient.from_env(server)
        if not message and sys.stdin.isatty():
            message = click.prompt("Describe the problem", default="")
        number, where = client.support(offer_id, message)
        click.echo(f"support request {number} for {offer_id}: bundle {where}")
        return 0
    from harness.publish.notify import mailer_for
    from harness.publish.support import bundle_path, write_bundle
    from harness.publish.ticker import Ticker

    settings = _settings(settings_file)
    store = _store(settings)
    try:
        if not message and sys.stdin.isatty():
            message = click.prompt("Describe the problem", default="")
        bundle = write_bundle(store, settings, offer_id, bundle_path(settings, offer_id))
        number = store.add_support(
            offer_id, who=_actor(actor), message=message or "(no message)", bundle=str(bundle)
        )
        from harness.publish.executor import InProcessExecutor

        executor = InProcessExecutor(lambda _run: False, workers=1)
        Ticker(store, executor, mailer_for(settings), settings, "support").deliver()
        executor.shutdown()
        click.echo(f"support request {number} for {offer_id}: bundle {bundle}")
        return 0
    finally:
        store.close()


@click.command("publish-worker")
@click.option("--once", is_flag=True, help="Run until nothing is due or running, then exit.")
@_settings_option
def worker_command(once: bool, settings_file: Path | None) -> int:
    """Run the pipeline's ticker and stages (resumes stages a killed process left)."""
    pipeline = _pipeline(_settings(settings_file))
    stop = threading.Event()
    try:
        pipeline.ticker.run(stop, until=(lambda: not pipeline.store.due_runs()) if once else None)
    except KeyboardInterrupt:
        stop.set()
    finally:
        pipeline.close()
    return 0


publish_commands: list[click.Command] = [
    offer_group,
    publish_command,
    status_command,
    offers_command,
    history_command,
    go_live_command,
    cancel_command,
    catalog_command,
    outbox_command,
    support_command,
    worker_command,
]
"""Every command of the pipeline (each mapped by name in ``harness.cli.COMMANDS``)."""
