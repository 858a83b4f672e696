"""One place that makes guest text safe for every report format.

Guest output is hostile by nature: a probe may print megabytes, NUL bytes, terminal escape
sequences or bytes that are not UTF-8. Every reporter passes guest text through :func:`clean`
before writing it, so XML stays well-formed, JSON stays UTF-8, HTML stays inert and memory stays
bounded (text is cut *before* any other processing).
"""

from __future__ import annotations

import re

EVIDENCE_LIMIT = 64 * 1024
"""Characters kept of one evidence / message field."""

SERIAL_LOG_LIMIT = 256 * 1024
"""Characters kept of a serial log (its tail is the interesting part)."""

FIELD_LIMIT = 4 * 1024
"""Characters kept of short fields (actual, required, names)."""

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS / SOS / PM / APC strings
    r"|\x1b[@-Z\\-_]"  # two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)

# Everything XML 1.0 forbids (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF) plus
# C1 controls and DEL, which XML allows but which render as garbage everywhere.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte smuggled through surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _split(text: str, limit: int, keep: str) -> tuple[str, str, int]:
    """``text`` cut to ``limit`` as (head, tail, number of characters dropped between them)."""
    dropped = len(text) - limit
    if dropped <= 0:
        return text, "", 0
    if keep == "tail":
        return "", text[-limit:], dropped
    if keep == "head":
        return text[:limit], "", dropped
    half = limit // 2
    return text[:half], text[-(limit - half) :], dropped


def _safe(text: str) -> str:
    return _UNSAFE.sub(_escape_char, _ANSI.sub("", text))


def clean(data: str | bytes | None, limit: int = EVIDENCE_LIMIT, keep: str = "both") -> str:
    """Guest text made safe for XML, JSON and HTML (escaping for the format is the caller's job).

    Bytes are decoded as UTF-8 with invalid bytes shown as ``\\xNN``; ANSI escape sequences are
    removed; control characters other than tab, newline and carriage return are shown as
    ``\\xNN``; the text is cut to ``limit`` characters keeping the ``head``, the ``tail`` or
    ``both`` ends, with a marker saying how much was cut. The input is cut first (with slack for
    escapes) so a 10 MB probe output is never copied whole.
    """
    if data is None:
        return ""
    slack = limit + limit // 4 + 64
    dropped = 0
    if isinstance(data, bytes):
        if len(data) > slack:
            # cut bytes before decoding; a split UTF-8 sequence just shows as \\xNN
            head_b, tail_b, dropped = _split_bytes(data, slack, keep)
            head = head_b.decode("utf-8", errors="backslashreplace")
            tail = tail_b.decode("utf-8", errors="backslashreplace")
        else:
            head, tail = data.decode("utf-8", errors="backslashreplace"), ""
    else:
        head, tail, dropped = _split(data, slack, keep)
    head, tail = _safe(head), _safe(tail)
    excess = len(head) + len(tail) - limit
    if excess > 0:
        dropped += excess
        if keep == "tail":
            head, tail = "", (head + tail)[excess:]
        elif keep == "head":
            head, tail = (head + tail)[:limit], ""
        else:
            if not tail:  # nothing was pre-cut: split the processed text in the middle
                middle = len(head) // 2
                head, tail = head[:middle], head[middle:]
            take_tail = min(len(tail), excess // 2)
            tail = tail[take_tail:]
            head = head[: len(head) - (excess - take_tail)]
    if not dropped:
        return head + tail
    return f"{head}\n[... vmcert: {dropped} characters cut ...]\n{tail}"


def _split_bytes(data: bytes, limit: int, keep: str) -> tuple[bytes, bytes, int]:
    dropped = len(data) - limit
    if keep == "tail":
        return b"", data[-limit:], dropped
    if keep == "head":
        return data[:limit], b"", dropped
    half = limit // 2
    return data[:half], data[-(limit - half) :], dropped


def short(data: str | bytes | None) -> str:
    """:func:`clean` for short one-line-ish fields (actual, required, names)."""
    return clean(data, FIELD_LIMIT, "head")


def serial_log(data: str | bytes | None) -> str:
    """:func:`clean` for a serial console log: keeps its tail."""
    return clean(data, SERIAL_LOG_LIMIT, "tail")
