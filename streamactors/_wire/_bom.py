"""The UTF-8 byte order mark at the very start of a body: stripped once,
also when its three bytes arrive in separate reads. Used by the line
splitter (``_lines``) that the SSE and NDJSON decoders share."""

from __future__ import annotations

__all__ = ["BOM", "strip_bom"]

BOM = b"\xef\xbb\xbf"


def strip_bom(pending: bytes, data: bytes) -> tuple[bytes | None, bytes]:
    """``(data without a leading BOM, b"")`` once the start is decided, or
    ``(None, bytes kept)`` while what arrived could still be a split BOM."""
    data = pending + data
    if len(data) < 3 and BOM.startswith(data):
        return None, data
    return (data[3:] if data[:3] == BOM else data), b""
