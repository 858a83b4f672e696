"""Notifications: the e-mails a transition sends, and their delivery.

Transitions queue e-mails in the ``notifications`` table in the same transaction as the state
change; the ticker delivers them through a :class:`Mailer`: SMTP (STARTTLS and credentials when
configured) or, with no relay, ``.eml`` files in the data directory's outbox. Delivery is at
least once: a worker that dies between sending and recording may send an e-mail twice, never
zero times.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from harness.publish.errors import DeliveryError
from harness.publish.model import INFO, Notice, Stage
from harness.publish.secrets import Masker
from harness.publish.settings import PublishSettings, SmtpSettings
from harness.publish.views import OutgoingMail

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def compose(
    notice: Notice, offer_id: str, offer_name: str, number: int, stage: Stage, message: str
) -> tuple[str, str]:
    """Subject and plain-text body of a transition's e-mail."""
    where = f"offer {offer_id} ({offer_name}), publish request {number}"
    name = INFO[stage].name
    if notice is Notice.ERROR:
        subject = f"[vmcert] {offer_id}: {name} failed"
        body = (
            f"Publishing {where} stopped at the stage {name}:\n\n{message}\n\n"
            f"Fix the problem, then run `vmcert publish` again: a new request starts at "
            f"Validate Pre-Requisites.\nStatus: vmcert status {offer_id}\n"
        )
    elif notice is Notice.PREVIEW:
        subject = f"[vmcert] {offer_id}: available in preview"
        body = (
            f"{where} is available in preview to its preview audience and its deployment was "
            f"verified.\n\n{message}\n\nWhen everything looks good: vmcert go-live {offer_id}\n"
        )
    elif notice is Notice.LIVE:
        subject = f"[vmcert] {offer_id}: live"
        body = f"{where} is live: it is listed publicly.\n\n{message}\n"
    else:
        subject = f"[vmcert] {offer_id}: publishing canceled"
        body = f"{where} was canceled at {name}; the status is reset to step 1.\n{message}\n"
    return subject, body


def build_message(mail: OutgoingMail, sender: str, masker: Masker) -> EmailMessage:
    """The e-mail as sent: secrets masked, the attachment (if any and small enough) attached."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(mail.recipients)
    message["Subject"] = masker.mask(mail.subject).replace("\n", " ")[:200]
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="vmcert.local")
    message["X-Vmcert-Offer"] = mail.offer_id
    message.set_content(masker.mask(mail.body))
    if mail.attachment:
        path = Path(mail.attachment)
        if path.is_file() and path.stat().st_size <= MAX_ATTACHMENT_BYTES:
            data = path.read_bytes()
            if path.suffix in (".json", ".xml", ".html", ".txt", ".log", ".toml"):
                text = masker.mask(data.decode("utf-8", errors="replace"))
                message.add_attachment(text, subtype=_subtype(path), filename=path.name)
            else:
                message.add_attachment(
                    data, maintype="application", subtype="octet-stream", filename=path.name
                )
    return message


def _subtype(path: Path) -> str:
    return {".json": "json", ".xml": "xml", ".html": "html"}.get(path.suffix, "plain")


class Mailer(Protocol):
    """Delivers one message; raises :class:`DeliveryError` when it cannot."""

    via: str

    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """Through an SMTP relay: STARTTLS when configured (verified against the system's or the
    configured CA), then login when credentials are configured."""

    via = "smtp"

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    def send(self, message: EmailMessage) -> None:
        smtp = self.smtp
        where = f"SMTP relay {smtp.host}:{smtp.port}"
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
                client.ehlo()
                if smtp.starttls:
                    context = ssl.create_default_context(
                        cafile=str(smtp.ca_file) if smtp.ca_file else None
                    )
                    client.starttls(context=context)
                    client.ehlo()
                if smtp.username is not None and smtp.password is not None:
                    client.login(smtp.username, smtp.password.value)
                client.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"{where} refused the credentials ({exc.smtp_code})") from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"{where}: {exc}") from None
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"{where} unreachable: {exc}") from None


class OutboxMailer:
    """No relay configured: each message becomes a ``.eml`` file in the outbox directory."""

    via = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        offer = str(message.get("X-Vmcert-Offer", "vmcert"))
        target = self.directory / f"{stamp}-{offer}.eml"
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(bytes(message))
        temporary.replace(target)  # a reader never sees half a message


def mailer_for(settings: PublishSettings) -> Mailer:
    """SMTP when a relay is configured, else the outbox."""
    if settings.smtp is not None:
        return SmtpMailer(settings.smtp)
    return OutboxMailer(settings.outbox)
