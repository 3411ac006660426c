"""HTTP/1.1 chunked transfer decoding, sans-I/O: bytes in, payload out.

The transport reads whole bursts off the socket and de-chunks them here, one
call per burst, instead of one urllib3 call per HTTP chunk (one per event).
"""

from __future__ import annotations

from .errors import ProtocolError

__all__ = ["Dechunker"]


class Dechunker:
    """HTTP/1.1 chunked transfer decoding, sans-I/O: bytes in, payload out."""

    __slots__ = ("_buf", "_left", "_state")

    _SIZE, _DATA, _CRLF, _TRAILER, _DONE = range(5)

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0
        self._state = self._SIZE

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def feed(self, data: bytes) -> bytes:
        if self._state == 0 and not self._buf:
            # Fast path of a paced stream: exactly one whole chunk.
            end = data.find(b"\r\n")
            if 0 < end < 9 and data[-2:] == b"\r\n":
                try:
                    size = int(data[:end], 16)
                except ValueError:
                    size = -1
                if size > 0 and end + 4 + size == len(data):
                    return data[end + 2 : -2]
        buf = self._buf + data if self._buf else data
        n = len(buf)
        pos = 0
        out = []
        state = self._state
        left = self._left
        while pos < n:
            if state == 1:  # data
                take = n - pos if n - pos < left else left
                out.append(buf[pos : pos + take])
                pos += take
                left -= take
                if left == 0:
                    state = 2
            elif state == 0 or state == 2:  # (CRLF then) size line
                end = buf.find(b"\n", pos)
                if end < 0:
                    if n - pos > 4096:
                        raise ProtocolError("malformed chunked body: size line too long")
                    break
                line = buf[pos:end]
                pos = end + 1
                if state == 2:
                    if line.strip():
                        raise ProtocolError("malformed chunked body: data longer than its size")
                    state = 0
                    continue
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ProtocolError(
                        "malformed chunked body: bad chunk size",
                        payload=line[:100].decode("latin-1"),
                    ) from None
                if size:
                    left = size
                    state = 1
                else:
                    state = 3
            elif state == 3:  # trailers until a blank line
                end = buf.find(b"\n", pos)
                if end < 0:
                    break
                line = buf[pos:end]
                pos = end + 1
                if not line.strip():
                    state = 4
            else:
                break
        self._state = state
        self._left = left
        self._buf = buf[pos:] if pos < n else b""
        return out[0] if len(out) == 1 else b"".join(out)
