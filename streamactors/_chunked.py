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

from .errors import ProtocolError

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
        """Decode ``buf`` from its start; return how much of it was used."""
        pos, n = 0, len(buf)
        while pos < n and self._state != self._DONE:
            if self._state == self._DATA:
                take = min(n - pos, self._left)
                out.append(buf[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._state = self._CRLF
                continue
            line_end = self._line_end(buf, pos)
            if line_end < 0:
                break
            self._line(buf[pos:line_end])
            pos = line_end + 2
        return pos

    def _line_end(self, buf: bytes, pos: int) -> int:
        """Where the CRLF ending the line at ``pos`` starts, or -1 for more."""
        end = buf.find(b"\n", pos, pos + _MAX_LINE + 1)
        if end < 0:
            if len(buf) - pos > _MAX_LINE:
                raise _malformed("line too long", buf[pos:])
            return -1
        if end == pos or buf[end - 1] != 13:
            raise _malformed("line not ended by CRLF", buf[pos:end + 1])
        return end - 1

    def _line(self, line: bytes) -> None:
        state = self._state
        if state == self._SIZE:
            size = _chunk_size(line)
            self._left = size
            self._state = self._DATA if size else self._TRAILER
        elif state == self._CRLF:
            if line:
                raise _malformed("chunk data longer than its size", line)
            self._state = self._SIZE
        elif not line:  # the blank line that ends the trailers
            self._state = self._DONE
        else:
            self._trailer_lines += 1
            self._trailer_bytes += len(line)
            if (self._trailer_lines > _MAX_TRAILER_LINES
                    or self._trailer_bytes > _MAX_TRAILER_BYTES):
                raise _malformed("too many trailer fields", line)
