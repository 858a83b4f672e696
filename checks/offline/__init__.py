"""Facts read from an image's files without booting it (issue 13).

:func:`read_image_facts` opens an image and reads the facts asked for through each fact's offline
reader (:attr:`checks.fact.Fact.offline`), giving the same typed values as the online probes;
:mod:`checks.offline.image` is the shell-like view of the files the readers use, and
:mod:`~checks.offline.boot`, :mod:`~checks.offline.kernel`, :mod:`~checks.offline.packages` and
:mod:`~checks.offline.initramfs` what several readers share. Importing this package loads the
file-system readers (:mod:`images.fs`); the fact modules import it only when they read.
"""

from checks.offline.collect import (
    SOURCE,
    OfflineCollection,
    collect_offline,
    read_image_facts,
    reason_unavailable,
)
from checks.offline.image import OfflineError, OfflineImage

__all__ = [
    "SOURCE",
    "OfflineCollection",
    "OfflineError",
    "OfflineImage",
    "collect_offline",
    "read_image_facts",
    "reason_unavailable",
]
