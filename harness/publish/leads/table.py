"""Azure Table lead destination (azure-data-tables): upsert the lead, read it back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.data.tables import TableClient, TableServiceClient

from harness.publish.errors import LeadRejected
from harness.publish.leads import TestLead
from harness.publish.secrets import Masker, Secret


class TableDestination:
    def __init__(self, connection_string: Secret, table: str) -> None:
        self.connection_string = connection_string
        self.table = table
        self._masker = Masker()
        self._masker.add(connection_string)

    def describe(self) -> str:
        return f"Azure Table {self.table}"

    def _client(self) -> TableClient:
        try:
            service = TableServiceClient.from_connection_string(self.connection_string.value)
        except ValueError as exc:
            raise LeadRejected(f"the table connection string is not valid: {exc}") from None
        return service.create_table_if_not_exists(self.table)

    def send(self, lead: TestLead) -> None:
        with self._errors():
            self._client().upsert_entity(lead.table_entity())

    def read_back(self, lead: TestLead) -> None:
        wanted = lead.table_entity()
        with self._errors():
            try:
                got = self._client().get_entity(wanted["PartitionKey"], wanted["RowKey"])
            except ResourceNotFoundError:
                raise LeadRejected(f"the test lead {lead.marker} is not in {self.table}") from None
        for name in ("Description", "CustomerInfo", "ActionCode", "OfferDisplayName"):
            if got.get(name) != wanted[name]:
                raise LeadRejected(f"the test lead read back from {self.table} differs in {name}")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """The SDK's errors as the pipeline's: refusals fail the stage, network errors retry it;
        the destination's message is kept, secrets masked."""
        mask = self._masker.mask
        try:
            yield
        except ServiceRequestError as exc:
            raise ConnectionError(mask(f"Azure Table unreachable: {exc}")) from None
        except (ClientAuthenticationError, HttpResponseError) as exc:
            text = str(exc.message or exc).strip().splitlines()[0]
            raise LeadRejected(mask(f"Azure Table said {exc.status_code}: {text}")) from None
