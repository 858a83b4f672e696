"""``vmcert support OFFER``: one archive for a support engineer, every secret masked.

The bundle holds the offer file as last published (secrets masked: known values, inline secret
keys, account keys and SAS signatures), the status JSON, the history, and each stage's work
directory of the newest request (stage logs, certification reports, serial and emulator logs,
the product page). Text files are masked on the way in; binary files (disk images) are left out.
"""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from harness.publish.offer import parse_offer
from harness.publish.secrets import Masker
from harness.publish.settings import PublishSettings
from harness.publish.status import never_published, status_document
from harness.publish.store import Store

MAX_MEMBER_BYTES = 20 * 1024 * 1024
TEXT_SUFFIXES = {".log", ".json", ".xml", ".html", ".txt", ".toml", ".md", ".csv", ".out", ""}


def write_bundle(store: Store, settings: PublishSettings, offer_id: str, target: Path) -> Path:
    """Write the support bundle for ``offer_id`` to ``target`` (a ``.tar.gz``)."""
    masker = settings.masker
    text, source = store.offer_text(offer_id)
    base = Path(source).parent if source else Path.cwd()
    for secret in parse_offer(text, base_dir=base).offer.secrets():
        masker.add(secret)
    request = store.request(offer_id)
    status = status_document(request) if request is not None else never_published(offer_id)
    history = [
        {
            "what": e.what.value,
            "who": e.who,
            "when": e.when.isoformat(),
            "request": e.request,
            "stage": e.stage,
            "detail": e.detail,
        }
        for e in store.history(offer_id)
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"vmcert-support-{offer_id}"
    with tarfile.open(target, "w:gz") as archive:
        _add_text(archive, f"{prefix}/offer.toml", masker.mask(text))
        _add_text(archive, f"{prefix}/status.json", masker.mask(json.dumps(status, indent=2)))
        _add_text(archive, f"{prefix}/history.json", masker.mask(json.dumps(history, indent=2)))
        if request is not None:
            root = settings.data_dir / "offers" / offer_id / "requests" / str(request.number)
            _add_tree(archive, root, f"{prefix}/request-{request.number}", masker)
    return target


def bundle_path(settings: PublishSettings, offer_id: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.data_dir / "support" / f"{offer_id}-{stamp}.tar.gz"


def _add_text(archive: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode("utf-8")
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


def _add_tree(archive: tarfile.TarFile, root: Path, prefix: str, masker: Masker) -> None:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.suffix.lower() not in TEXT_SUFFIXES:
            continue
        if path.stat().st_size > MAX_MEMBER_BYTES:
            continue
        raw = path.read_bytes()
        if b"\x00" in raw[:8192]:
            continue  # binary
        relative = path.relative_to(root).as_posix()
        _add_text(archive, f"{prefix}/{relative}", masker.mask(raw.decode("utf-8", "replace")))
