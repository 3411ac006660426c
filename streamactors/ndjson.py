"""Newline-delimited JSON framing (Ollama), sans I/O: bytes -> lines of text.

``NDJSONDecoder`` only frames and decodes; parsing the JSON of each line is
the provider codec's job. Lines end with LF (a CR before it is dropped);
blank and whitespace-only lines are skipped; text is UTF-8 with replacement,
decoded per whole line so characters split across reads come out intact. One
UTF-8 BOM at the very start is removed (a JSON parser would reject it).

A line longer than ``max_line_bytes`` (not counting its LF) raises
``ProtocolError``, also while it is still incomplete, so a peer that never
sends a newline cannot grow memory. Lines completed earlier in the same
``feed`` are still returned and the error is raised by the next call; it is
sticky.
"""

from __future__ import annotations

from ._wire._bom import strip_bom
from .errors import ProtocolError
from .sse._decoder import DEFAULT_MAX_EVENT_BYTES

__all__ = ["NDJSONDecoder"]

_PAYLOAD_BYTES = 256


def _oversize(limit: int, head: bytes) -> ProtocolError:
    return ProtocolError(
        f"NDJSON line longer than max_line_bytes={limit} bytes;"
        " payload starts with its first bytes",
        payload=head[:_PAYLOAD_BYTES].decode("utf-8", "replace"),
    )


class NDJSONDecoder:
    """Turn an NDJSON body, in pieces of any size, into its non-blank lines."""

    __slots__ = ("_at_start", "_bom", "_error", "_max", "_tail", "_tail_len")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._max = max_line_bytes
        self._at_start = True
        self._bom = b""
        self._tail: list[bytes] = []  # pieces of the incomplete current line
        self._tail_len = 0
        self._error: ProtocolError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[str]:
        """Take the next bytes of the body; return the lines they completed."""
        if self._error is not None:
            raise self._error
        if not data:
            return []
        if type(data) is not bytes:
            data = bytes(data)
        if self._at_start:
            started, self._bom = strip_bom(self._bom, data)
            if started is None:
                return []
            self._at_start = False
            data = started
        tail = self._tail
        if b"\n" not in data:
            if data:
                tail.append(data)
                self._tail_len += len(data)
                if self._tail_len > self._max:
                    self._error = _oversize(self._max, tail[0])
                    raise self._error
            return []
        if tail:
            tail.append(data)
            data = b"".join(tail)
            tail.clear()
            self._tail_len = 0
        lines = data.split(b"\n")
        rest = lines.pop()
        out: list[str] = []
        limit = self._max
        check = len(data) > limit  # otherwise no line can be too long
        for line in lines:
            if check and len(line) > limit:
                self._error = _oversize(limit, line)
                if out:
                    return out
                raise self._error
            if line and not line.isspace():
                if line[-1:] == b"\r":
                    line = line[:-1]
                out.append(line.decode("utf-8", "replace"))
        if rest:
            tail.append(rest)
            self._tail_len = len(rest)
            if len(rest) > limit:
                self._error = _oversize(limit, rest)
                if out:
                    return out
                raise self._error
        return out

    def close(self) -> list[str]:
        """Signal the end of the body; return its last line if it had no LF.

        Raises a ``ProtocolError`` still owed by the last ``feed``. Afterwards
        the decoder is ready for a new body.
        """
        if self._error is not None:
            raise self._error
        line = b"".join(self._tail)
        self._tail.clear()
        self._tail_len = 0
        self._at_start = True
        self._bom = b""
        if line[-1:] == b"\r":
            line = line[:-1]
        if not line or line.isspace():
            return []
        return [line.decode("utf-8", "replace")]
