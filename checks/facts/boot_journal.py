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
    read_error: str = ""
    """Why the journal could not be read (journalctl printed nothing); empty when it was."""


def parse(text: str) -> BootJournal:
    """A ``source=`` line, then the log lines (``journal-read=nothing`` and ``journal-stderr=``:
    the journal could not be read)."""
    source, unread, stderr = "", False, ""
    lines = []
    for line in text.splitlines():
        if line.startswith("source="):
            source = source or line.partition("=")[2]
        elif line == "journal-read=nothing":
            unread = True
        elif line.startswith("journal-stderr="):
            stderr = stderr or line.partition("=")[2]
        else:
            lines.append(line)
    error = f"journalctl printed nothing{': ' + stderr if stderr else ''}" if unread else ""
    return BootJournal(source, tuple(lines), error)


FACT = fact(
    "boot_journal",
    parse,
    needs_root=True,
    timeout=20,
    max_output=128 * 1024,
    description="fail/error/warning lines of this boot's journal (or syslog/messages)",
    offline_note="the journal of a boot: the image has no boot of its own",
)
