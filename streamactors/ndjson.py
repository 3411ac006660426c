"""Newline-delimited JSON framing (Ollama), sans I/O: bytes -> lines of text.

``NDJSONDecoder`` only frames and decodes; parsing the JSON of each line is
the provider codec's job. Lines come from the shared ``_wire._lines``
splitter: they end with LF (a CR before it is dropped here); one UTF-8 BOM at
the very start is removed (a JSON parser would reject it). Blank and
whitespace-only lines are skipped; text is UTF-8 with replacement, decoded
per whole line so characters split across reads come out intact.

A line longer than ``max_line_bytes`` (not counting its LF) raises
``ProtocolError``, also while it is still incomplete, so a peer that never
sends a newline cannot grow memory. Lines completed earlier in the same
``feed`` are still returned and the error is raised by the next call; it is
sticky.
"""

from __future__ import annotations

from ._wire._bom import BOM
from ._wire._lines import DEFAULT_MAX_BYTES, LineSplitter
from .errors import ProtocolError

__all__ = ["NDJSONDecoder"]

_PAYLOAD_BYTES = 256
_BOM_LEN = len(BOM)


def _oversize(limit: int, head: bytes) -> ProtocolError:
    return ProtocolError(
        f"NDJSON line longer than max_line_bytes={limit} bytes;"
        " payload starts with its first bytes",
        payload=head[:_PAYLOAD_BYTES].decode("utf-8", "replace"),
    )


class NDJSONDecoder:
    """Turn an NDJSON body, in pieces of any size, into its non-blank lines."""

    __slots__ = ("_error", "_lines", "_max")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._max = max_line_bytes
        self._lines = LineSplitter(any_end=False)
        self._error: ProtocolError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[str]:
        """Take the next bytes of the body; return the lines they completed."""
        if self._error is not None:
            raise self._error
        if type(data) is not bytes:
            data = bytes(data)
        lines = self._lines
        limit = self._max
        # Unless the held line and this read together exceed the limit, no
        # line can: the common read skips the per-line length check. (The up
        # to two bytes of a BOM still undecided may join the first line.)
        check = lines.pending + len(data) + _BOM_LEN > limit
        out: list[str] = []
        append = out.append
        for line in lines.split(data):
            if check and len(line) > limit:
                return self._fail(_oversize(limit, line), out)
            if line and not line.isspace():
                if line[-1:] == b"\r":
                    line = line[:-1]
                append(line.decode("utf-8", "replace"))
        if lines.pending > limit:
            return self._fail(_oversize(limit, lines.head()), out)
        return out

    def _fail(self, error: ProtocolError, out: list[str]) -> list[str]:
        """Keep ``error`` for every later call; return the lines completed
        before it, or raise it now if there are none."""
        self._error = error
        if out:
            return out
        raise error

    def close(self) -> list[str]:
        """Signal the end of the body; return its last line if it had no LF.

        Raises a ``ProtocolError`` still owed by the last ``feed``. Afterwards
        the decoder is ready for a new body.
        """
        if self._error is not None:
            raise self._error
        line = self._lines.end()
        if line[-1:] == b"\r":
            line = line[:-1]
        if not line or line.isspace():
            return []
        return [line.decode("utf-8", "replace")]
