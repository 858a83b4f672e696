"""Lead destinations and the validation test lead (every text field ``MSFT_TEST_<ticks>``).

One module per destination: :mod:`.table` (Azure Table through azure-data-tables; Azurite's table
service locally) and :mod:`.https` (a JSON POST). A destination sends the lead, then reads it
back where it can; one that refuses raises :class:`~harness.publish.errors.LeadRejected` with its
own message, one that cannot be reached raises :class:`OSError` (tried again later).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from harness.publish.offer import Leads, Offer

DOTNET_EPOCH_OFFSET = 62_135_596_800
"""Seconds from 0001-01-01 to 1970-01-01: the test lead's number looks like .NET ticks."""


@dataclass(frozen=True)
class TestLead:
    """The test lead of one publish request."""

    __test__ = False  # not a pytest class despite the name

    key: str
    """Stable per request (``offer-number``): a re-run stage rewrites the same lead."""
    marker: str
    offer_title: str
    publisher_offer: str
    created: datetime

    @property
    def customer_info(self) -> dict[str, str]:
        return {
            "FirstName": self.marker,
            "LastName": self.marker,
            "Email": f"{self.marker}@test.com",
            "Phone": "1234567890",
            "Country": "US",
            "Company": self.marker,
            "Title": self.marker,
        }

    def https_payload(self) -> dict[str, object]:
        """Microsoft's HTTPS lead schema (PascalCase)."""
        return {
            "UserDetails": self.customer_info,
            "LeadSource": "AzureMarketplace",
            "ActionCode": "INS",
            "OfferTitle": self.offer_title,
            "Description": self.marker,
        }

    def table_entity(self) -> dict[str, str]:
        """The Azure Table entity (property names as public consumers read them)."""
        return {
            "PartitionKey": self.created.strftime("%Y-%m-%d"),
            "RowKey": self.key,
            "LeadSource": f"AzureMarketplace-INS|{self.publisher_offer}",
            "ActionCode": "INS",
            "OfferDisplayName": self.offer_title,
            "CustomerInfo": json.dumps(self.customer_info, separators=(",", ":")),
            "Description": self.marker,
            "CreatedTime": self.created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }


def test_lead(offer: Offer, *, key: str, now: datetime | None = None) -> TestLead:
    now = now or datetime.now(UTC)
    ticks = (int(now.timestamp()) + DOTNET_EPOCH_OFFSET) * 10**7 + now.microsecond * 10
    return TestLead(
        key=key,
        marker=f"MSFT_TEST_{ticks}",
        offer_title=offer.name,
        publisher_offer=f"{offer.publisher}.{offer.id}",
        created=now,
    )


test_lead.__test__ = False  # type: ignore[attr-defined]


class LeadDestination(Protocol):
    def describe(self) -> str:
        """Where the lead goes, without secrets."""
        ...

    def send(self, lead: TestLead) -> None: ...

    def read_back(self, lead: TestLead) -> None:
        """Confirm the lead arrived as sent (raises :class:`LeadRejected` when not)."""
        ...


def destination_for(leads: Leads) -> LeadDestination | None:
    """The configured destination, or ``None`` for none."""
    if leads.destination == "table" and leads.connection_string is not None:
        from harness.publish.leads.table import TableDestination

        return TableDestination(leads.connection_string, leads.table)
    if leads.destination == "https" and leads.url:
        from harness.publish.leads.https import HttpsDestination

        return HttpsDestination(leads.url, leads.ca_file)
    return None
