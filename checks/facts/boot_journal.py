"""The ``boot_journal`` fact: the fail/error/warning lines of this boot's journal (or of
/var/log/syslog or /var/log/messages)."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact


@dataclass(frozen=True)
class BootJournal:
    """Problem-looking log lines of this boot."""

    source: str
    """``journal`` or the log file read."""
    lines: tuple[str, ...]
    """At most 400 lines that mention fail, error or warn."""


def parse(text: str) -> BootJournal:
    """A ``source=`` line, then the log lines."""
    source = ""
    lines = []
    for line in text.splitlines():
        if line.startswith("source="):
            source = source or line.partition("=")[2]
        else:
            lines.append(line)
    return BootJournal(source, tuple(lines))


FACT = fact(
    "boot_journal",
    parse,
    needs_root=True,
    timeout=20,
    max_output=128 * 1024,
    description="fail/error/warning lines of this boot's journal (or syslog/messages)",
    offline_note="the journal of a boot: the image has no boot of its own",
)
