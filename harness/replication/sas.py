"""Read-only, short-lived SAS URLs for the source blob of the server-side strategies."""

from __future__ import annotations

import datetime as dt
import logging

from harness.replication.blob import PageBlob, service_client
from harness.replication.config import Region
from harness.replication.redaction import register_secret

log = logging.getLogger(__name__)

SAS_TTL = dt.timedelta(hours=1)


def account_key(region: Region) -> str | None:
    """The region's account key, given directly or inside its connection string."""
    if region.account_key:
        return region.account_key
    if region.connection_string:
        for part in region.connection_string.split(";"):
            if part.startswith("AccountKey="):
                return part.split("=", 1)[1]
    return None


def can_sign(region: Region) -> bool:
    """Whether :func:`source_sas_url` may be able to make a SAS for a blob of ``region``."""
    return account_key(region) is not None or region.credential in ("default", "sas")


def source_sas_url(region: Region, blob: PageBlob, *, ttl: dt.timedelta = SAS_TTL) -> str | None:
    """A read-only SAS URL for ``blob`` valid for ``ttl``, or None if the credential can't make one.

    Built from the client's own URL, so the host matches what the service expects (reference P11).
    """
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    now = dt.datetime.now(dt.UTC)
    start, expiry = now - dt.timedelta(minutes=5), now + ttl
    permission = BlobSasPermissions(read=True)
    key = account_key(region)
    if key:
        sas = generate_blob_sas(
            region.account_name,
            region.container,
            blob.blob_name,
            account_key=key,
            permission=permission,
            start=start,
            expiry=expiry,
        )
    elif region.credential == "default":
        try:
            udk = service_client(region).get_user_delegation_key(start, expiry)
            sas = generate_blob_sas(
                region.account_name,
                region.container,
                blob.blob_name,
                user_delegation_key=udk,
                permission=permission,
                start=start,
                expiry=expiry,
            )
        except Exception as exc:
            log.info("region %s: no user delegation key: %s", region.name, exc)
            return None
    elif region.sas_token:
        sas = region.sas_token.lstrip("?")
    else:
        return None
    register_secret(sas)
    return f"{blob.url.split('?', 1)[0]}?{sas}"
