"""HTTP/1.1 chunked transfer decoding, sans-I/O: bytes in, payload out.

The transport reads whole bursts off the socket and de-chunks them here, one
call per burst, instead of one urllib3 call per HTTP chunk (one per event).

Theory of operation
-------------------
* The framing is read strictly, as RFC 9112 writes it: a chunk-size line is
  1 to 16 hex digits, optional blanks, an optional ``;extension``, then CRLF.
  ``-5``, ``0x5``, ``+5``, ``5_0``, a bare LF, a size line longer than 4 KiB,
  data not followed by CRLF, more than 64 trailer lines or 16 KiB of them:
  each is a ``ProtocolError``, raised by the ``feed`` that sees it. Lenient
  parsers (``int(line, 16)`` takes ``-5`` and ``0x5``) are how a negative size
  became an endless loop before.
* Every step of the loop consumes input or stops: work is bounded by the
  bytes received, whatever they are.
* After the last chunk and its trailers, the body is ``done``; bytes that
  follow it in the same read are kept in ``surplus``: they belong to no
  request of ours, so the connection must not be reused.
"""

from __future__ import annotations

from ..errors import ProtocolError

__all__ = ["Dechunker"]

_HEX = b"0123456789abcdefABCDEF"
_MAX_SIZE_DIGITS = 16
_MAX_LINE = 4096
_MAX_TRAILER_LINES = 64
_MAX_TRAILER_BYTES = 16 * 1024
_PAYLOAD = 100


def _malformed(what: str, line: bytes) -> ProtocolError:
    return ProtocolError(f"malformed chunked body: {what}",
                         payload=line[:_PAYLOAD].decode("latin-1"))


def _chunk_size(line: bytes) -> int:
    """The size of a chunk-size line (its CRLF removed)."""
    size, _, extension = line.partition(b";")
    size = size.rstrip(b" \t")
    if not size or size.strip(_HEX) or len(size) > _MAX_SIZE_DIGITS:
        raise _malformed("bad chunk size", line)
    if extension and (b"\r" in extension or b"\n" in extension):
        raise _malformed("bad chunk extension", line)
    return int(size, 16)


class Dechunker:
    """HTTP/1.1 chunked transfer decoding, sans-I/O: bytes in, payload out."""

    __slots__ = ("_buf", "_left", "_state", "_trailer_bytes", "_trailer_lines", "surplus")

    _SIZE, _DATA, _CRLF, _TRAILER, _DONE = range(5)

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0
        self._state = self._SIZE
        self._trailer_lines = 0
        self._trailer_bytes = 0
        #: Bytes received after the end of the body (never part of it).
        self.surplus = b""

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def feed(self, data: bytes) -> bytes:
        """The payload carried by ``data`` (``ProtocolError`` if malformed)."""
        if self._state == 0 and not self._buf:
            # Fast path of a paced stream: exactly one whole chunk.
            end = data.find(b"\r\n")
            if 0 < end < 9 and data[-2:] == b"\r\n" and not data[:end].strip(_HEX):
                size = int(data[:end], 16)
                if size and end + 4 + size == len(data):
                    return data[end + 2 : -2]
        if self._state == self._DONE:
            self.surplus += data
            return b""
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos = self._run(buf, out)
        self._buf = buf[pos:] if pos < len(buf) else b""
        if self._state == self._DONE and self._buf:
            self.surplus, self._buf = self._buf, b""
        return out[0] if len(out) == 1 else b"".join(out)

    def _run(self, buf: bytes, out: list[bytes]) -> int:
        """Decode ``buf`` from its start; return how much of it was used.

        The hot loop (one pass per chunk of an unpaced stream): data, then
        its CRLF, then the next size line, with locals only; a line's
        unusual forms (extensions, blanks, trailers) go through ``_line``.
        """
        pos, n = 0, len(buf)
        state, left = self._state, self._left
        find, append = buf.find, out.append
        try:
            while pos < n:
                if state == 1:  # data
                    take = n - pos if n - pos < left else left
                    append(buf[pos : pos + take])
                    pos += take
                    left -= take
                    if not left:
                        state = 2
                    continue
                if state == 2:  # the CRLF after data
                    if buf[pos : pos + 2] == b"\r\n":
                        pos += 2
                        state = 0
                        continue
                    if n - pos == 1 and buf[pos] == 13:
                        break  # its LF is in the next read
                    raise _malformed("chunk data longer than its size", buf[pos : pos + 20])
                end = find(b"\r\n", pos, pos + _MAX_LINE + 2)
                if end < 0:
                    self._incomplete_line(buf, pos)
                    break
                line = buf[pos:end]
                pos = end + 2
                if state == 0 and line and not line.strip(_HEX) and len(line) <= _MAX_SIZE_DIGITS:
                    left = int(line, 16)  # the plain form of a size line
                    state = 1 if left else 3
                    continue
                self._state, self._left = state, left
                self._line(line)
                state, left = self._state, self._left
                if state == 4:
                    break
        finally:
            self._state, self._left = state, left
        return pos

    def _incomplete_line(self, buf: bytes, pos: int) -> None:
        """No CRLF yet after ``pos``: fine, unless the line is already too long
        or ended by a bare LF."""
        rest = buf[pos:]
        if b"\n" in rest:
            raise _malformed("line not ended by CRLF", rest)
        if len(rest) > _MAX_LINE:
            raise _malformed("line too long", rest)

    def _line(self, line: bytes) -> None:
        if b"\n" in line or b"\r" in line:
            raise _malformed("line not ended by CRLF", line)
        state = self._state
        if state == self._SIZE:
            size = _chunk_size(line)
            self._left = size
            self._state = self._DATA if size else self._TRAILER
        elif not line:  # the blank line that ends the trailers
            self._state = self._DONE
        else:
            self._trailer_lines += 1
            self._trailer_bytes += len(line)
            if (self._trailer_lines > _MAX_TRAILER_LINES
                    or self._trailer_bytes > _MAX_TRAILER_BYTES):
                raise _malformed("too many trailer fields", line)
