"""Bytes in, complete lines out: the line splitting SSE and NDJSON share.

Theory of operation
-------------------
A ``LineSplitter`` takes a body in reads of any size and returns the lines
each read completed, without their line ends, keeping the incomplete last
line for the next read. It knows nothing of what a line means; the SSE and
NDJSON decoders interpret the lines and own their size rules.

* Line ends are configured: ``any_end=True`` (SSE) cuts at CR, LF and CRLF,
  ``any_end=False`` (NDJSON) cuts at LF only and leaves a CR in the line. A
  read without CR is cut with ``bytes.split(b"\\n")``; a read with one (SSE)
  with ``bytes.splitlines()``, which knows exactly CR, LF and CRLF (unlike
  ``str.splitlines()``, it ignores VT, FF, NEL and U+2028).
* A CR that is the last byte of a read already ended its line; if the next
  read starts with LF, that LF is the second half of the same CRLF and is
  dropped. Lines are only cut at CR or LF, which are ASCII and never part of
  a multi-byte UTF-8 sequence, so a caller may decode each line by itself.
* The incomplete last line is held as a list of pieces, joined once its end
  arrives, so an endless line costs linear time; ``pending`` counts its bytes
  so the caller can bound it before memory grows (``pending`` never counts the
  up to two bytes of a BOM still undecided). The bound itself is the caller's,
  since its measure differs: SSE counts the pending event's data lines too.
* One UTF-8 BOM at the very start of the body is removed, also when its three
  bytes arrive in separate reads (``_bom.strip_bom``).

Standard library only, no I/O.
"""

from __future__ import annotations

from ._bom import strip_bom

__all__ = ["DEFAULT_MAX_BYTES", "LineSplitter"]

#: Default bound of one SSE event or NDJSON line, in bytes (the decoders' default).
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


class LineSplitter:
    """Cut a body, in reads of any size, into complete lines.

    Args:
        any_end: True: CR, LF and CRLF each end a line (SSE). False: only LF
            ends a line and a CR before it stays in the line (NDJSON).
    """

    __slots__ = ("_any_end", "_bom", "_edge", "_start", "_tail", "idle", "pending")

    def __init__(self, any_end: bool) -> None:
        self._any_end = any_end
        # One flag for the two rare states, so the common read tests one:
        # the start of the body (BOM undecided) or a read that ended with CR.
        self._edge = True
        self._start = True
        self._bom = b""  # bytes of a possible BOM split across reads
        self._tail: list[bytes] = []  # pieces of the incomplete current line
        #: Bytes held of the incomplete current line.
        self.pending = 0
        #: True between two lines with nothing held: the start of the body is
        #: decided, the last read did not end with CR, no line is incomplete.
        #: A caller may then take a read of whole lines without ``split``.
        self.idle = False

    def split(self, data: bytes) -> list[bytes]:
        """The lines ``data`` completed, in order, without their line ends."""
        if not data:
            return []
        if self._edge:
            data = self._past_edge(data)
            if not data:
                return []
        tail = self._tail
        # Single bytes as ints: ``13 in data`` is a memchr, while ``b"\r" in
        # data`` first tries the argument as an int and pays for the failure.
        has_cr = self._any_end and 13 in data
        if not has_cr and 10 not in data:
            tail.append(data)
            self.pending += len(data)
            self.idle = False
            return []
        if tail:
            tail.append(data)
            data = b"".join(tail)
            tail.clear()
        if has_cr:
            lines = data.splitlines()  # exactly CR, LF and CRLF
            last = data[-1]
            if last == 13:
                self._edge = True  # a LF opening the next read belongs to this CR
            rest = lines.pop() if last != 10 and last != 13 else b""
        else:
            lines = data.split(b"\n")
            rest = lines.pop()
        if rest:
            tail.append(rest)
        self.pending = len(rest)
        self.idle = not (rest or self._edge)
        return lines

    def _past_edge(self, data: bytes) -> bytes:
        """``data`` without a leading BOM (start of the body) or without the
        LF completing a CRLF (after a read ending with CR); ``b""`` while
        the start is still undecided."""
        if self._start:
            started, self._bom = strip_bom(self._bom, data)
            if started is None:
                return b""
            self._start = self._edge = False
        else:
            self._edge = False
            started = data[1:] if data[:1] == b"\n" else data
        self.idle = True  # nothing is held at either edge; what follows decides
        return started

    def head(self) -> bytes:
        """The first piece of the incomplete line (for an error's payload)."""
        return self._tail[0] if self._tail else b""

    def end(self) -> bytes:
        """The end of the body: return its unterminated last line (``b""`` if
        none) and get ready for a new body, BOM included. Bytes that could
        still have begun a BOM were the body's content: they are that line."""
        line = self._bom + b"".join(self._tail)
        self._tail.clear()
        self.pending = 0
        self._bom = b""
        self._start = self._edge = True
        self.idle = False
        return line
