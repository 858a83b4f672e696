"""The publisher actions as the console and the API perform them (blocking store calls; the
handlers run them in a worker thread).

Publish re-reads the offer file the offer was last published from, as ``vmcert publish FILE``
would: the store keeps its path. Go live and Cancel are the store's transitions; Open support
request writes the masked support bundle and records the request, as ``vmcert support`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.publish.errors import OfferFileError
from harness.publish.offer import load_offer
from harness.publish.settings import PublishSettings
from harness.publish.store import Store
from harness.publish.views import RequestView


@dataclass(frozen=True)
class Publisher:
    store: Store
    settings: PublishSettings

    def publish(
        self,
        offer_id: str,
        *,
        actor: str,
        emails: Sequence[str] = (),
        offer_file: Path | None = None,
    ) -> RequestView:
        """A new request for ``offer_id`` from its offer file (``offer_file``, which must hold
        that offer id, or the file it was last published from); refused while one runs."""
        if offer_file is not None:
            if not offer_file.is_absolute():
                raise OfferFileError(f"{offer_file}: give the offer file's absolute path")
            offer = load_offer(offer_file).offer
            if offer.id != offer_id:
                raise OfferFileError(
                    f"{offer_file}: its offer.id is {offer.id!r}, not {offer_id!r}; "
                    "publish it under its own id"
                )
        else:
            _text, source = self.store.offer_text(offer_id)
            if not source:
                raise OfferFileError(
                    f"offer {offer_id}: the offer file it was published from is not known; "
                    "publish it once with `vmcert publish FILE`"
                )
            offer = load_offer(Path(source)).offer
        for secret in offer.secrets():
            self.settings.masker.add(secret)
        return self.store.publish(
            offer, actor=actor, emails=list(emails) or list(offer.notification_emails)
        )

    def go_live(self, offer_id: str, *, actor: str) -> RequestView:
        return self.store.go_live(offer_id, actor=actor)

    def cancel(self, offer_id: str, *, actor: str) -> RequestView:
        return self.store.cancel(offer_id, actor=actor)

    def support(self, offer_id: str, *, actor: str, message: str) -> tuple[int, Path]:
        """A support request with its bundle (its number and the bundle's path); the ticker of
        ``vmcert serve`` mails it."""
        from harness.publish.support import bundle_path, write_bundle

        self.store.offer(offer_id)  # UnknownOffer before writing anything
        bundle = write_bundle(
            self.store, self.settings, offer_id, bundle_path(self.settings, offer_id)
        )
        number = self.store.add_support(
            offer_id, who=actor, message=message or "(no message)", bundle=str(bundle)
        )
        return number, bundle
