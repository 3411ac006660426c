"""The body of a streamed HTTP response, read as it arrives (transport layer).

Theory of operation
-------------------
* For a chunked or a ``Content-Length`` body the socket file under urllib3
  is read with ``read1`` (one call per burst) and framed here, by the same
  ``_frame`` whether the worker reads (``read``) or the reactor does
  (``feed_raw``): the strict ``Dechunker``, or the count of bytes left. The
  ``_fp`` internals this needs are reached in ``_open_body`` only, with
  urllib3's own reads as the fallback.
* Bytes after the end of the body (an answer the server sent unasked) are
  never payload: the connection is then not reused. Bytes beyond a
  ``Content-Length`` in the read that ends the body are a ``ProtocolError``.
* A compressed body (a server that compresses although we asked for
  ``identity``) is inflated at most ``_READ_SIZE`` bytes at a time: what a
  read inflates to goes to the framer and the target piece by piece, so the
  event size limit and a bounded target hold however much it inflates. It is
  always read by its own worker thread, never by the shared reactor: one
  read can inflate to megabytes of events.
* The connection goes back to the pool only when the body was read to its
  end, nothing unread follows it and the stream was not cancelled; on any
  failure or cancel it is closed.
"""

from __future__ import annotations

import socket
import ssl
import zlib
from typing import Any

import requests
import urllib3.exceptions

from .._wire._chunked import Dechunker
from ..errors import (
    ProtocolError,
    ReadTimeout,
    StreamCancelled,
    StreamConnectionError,
    StreamError,
)
from ._cancel import CancelToken

__all__ = ["Body", "map_read_error"]

_READ_SIZE = 65536


class Body:
    """The body of a streaming response, read as it arrives.

    ``read()`` returns the next payload bytes (at least one) or b"" at the
    end of the body. A body that was not read to its clean end is never
    reused.
    """

    def __init__(self, response: requests.Response, token: CancelToken) -> None:
        self._response = response
        self._raw = response.raw
        self._token = token
        self._finished = False
        self._dirty = False  # bytes after the end of the body were received
        self._inflate: Any = None
        encoding = response.headers.get("content-encoding", "").lower().strip()
        if encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        self._file, self._dechunker, self._remaining = _open_body(self._raw)
        self._timeout: float | None = None

    @property
    def finished(self) -> bool:
        """True once the body was read to its end."""
        return self._finished

    @property
    def reusable(self) -> bool:
        """True when the connection may serve another request."""
        return self._finished and not self._dirty and not self._token.cancelled

    # -- reads by the worker thread ---------------------------------------------

    def read(self) -> bytes:
        """The next payload bytes (inflated when compressed); b"" at the end."""
        inflate = self._inflate
        while True:
            if inflate is not None and inflate.unconsumed_tail:
                data = self._inflate_some(b"")
            elif self._finished:
                return b""
            else:
                data = self._read_framed()
                if inflate is not None:
                    data = self._inflate_some(data)
            if data or self._finished:
                return data

    def _read_framed(self) -> bytes:
        try:
            if self._file is None:
                data: bytes = self._raw.read1(_READ_SIZE, decode_content=False)
                if not data:
                    self._finished = True
                return data
            while True:
                payload = self._frame(self._file.read1(_READ_SIZE))
                if payload or self._finished:
                    return payload
        except StreamError:
            raise
        except Exception as exc:
            raise map_read_error(exc, self._token) from None

    def finish_within(self, seconds: float) -> None:
        """Read what completes the framing of a body whose content already
        ended (the end marker came): for up to ``seconds``, then give up, which
        only means the connection is not reused."""
        sock = self._socket()
        if self._finished or sock is None:
            return
        timeout = sock.gettimeout()
        try:
            sock.settimeout(seconds)
            while not self._finished:
                if self._frame(self._file.read1(_READ_SIZE)):
                    self._dirty = True  # content after the end marker
        except (OSError, StreamError, ValueError):
            pass
        finally:
            try:
                sock.settimeout(timeout)
            except OSError:
                pass

    # -- reads by the reactor (one selector thread for many bodies) ----------

    def nonblocking_socket(self) -> tuple[socket.socket, bytes] | None:
        """Switch the body to reads by the reactor.

        Returns the socket, now non-blocking, with the body bytes the socket
        file had already buffered; None when this body cannot be read that
        way (urllib3's own read path, or no plain socket under it). The
        socket goes back to blocking in ``restore_blocking``.
        """
        sock = self._socket()
        if sock is None or self._inflate is not None:
            # A compressed body stays on its own thread: one read can inflate
            # to megabytes of events, too much for one turn of the reader.
            return None
        self._timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            # One read1 empties the file's buffer (smaller than 64 KiB); with
            # a non-blocking socket it never waits. b"" is "nothing buffered"
            # or EOF: the selector tells which.
            buffered = self._file.read1(_READ_SIZE) or b""
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            buffered = b""
        return sock, buffered

    def restore_blocking(self, sock: socket.socket) -> None:
        """Give the socket its blocking read timeout back (before reuse)."""
        try:
            sock.settimeout(self._timeout)
        except OSError:
            pass

    def feed_raw(self, data: bytes) -> bytes:
        """Payload from bytes the reactor read off the socket (b"" means EOF);
        sets ``finished`` at the end of the body. (Never compressed: see
        ``nonblocking_socket``.)

        Raises:
            StreamConnectionError: EOF before the end of a framed body.
            ProtocolError: malformed framing.
        """
        return self._frame(data)

    # -- framing and compression ---------------------------------------------------

    def _frame(self, data: bytes) -> bytes:
        """The payload in ``data`` read off the socket (b"" is EOF)."""
        if self._dechunker is not None:
            if not data:
                raise StreamConnectionError("connection closed before the end of the chunked body")
            payload = self._dechunker.feed(data)
            if self._dechunker.done:
                self._finished = True
                self._dirty = bool(self._dechunker.surplus)
            return payload
        if self._remaining is not None:
            return self._counted(data)
        if not data:
            self._finished = True
        return data

    def _counted(self, data: bytes) -> bytes:
        assert self._remaining is not None
        if not data:
            if self._finished:
                return b""
            raise StreamConnectionError(
                f"connection closed with {self._remaining} body bytes missing"
            )
        if self._finished:
            self._dirty = True
            return b""
        if len(data) > self._remaining:
            raise ProtocolError(
                f"the server sent {len(data) - self._remaining} bytes more than its "
                "Content-Length", payload=data[self._remaining:][:100].decode("latin-1"))
        self._remaining -= len(data)
        self._finished = self._remaining == 0
        return data

    def _inflate_some(self, data: bytes) -> bytes:
        """At most ``_READ_SIZE`` bytes inflated from ``data`` (after what an
        earlier call left in ``unconsumed_tail``)."""
        inflate = self._inflate
        try:
            tail = inflate.unconsumed_tail
            out: bytes = inflate.decompress(tail + data if tail else data, _READ_SIZE)
            if self._finished and not inflate.unconsumed_tail:
                out += inflate.flush()
        except zlib.error as exc:
            raise ProtocolError(f"the compressed body is corrupt: {exc}") from None
        return out

    def _socket(self) -> socket.socket | None:
        """The plain socket under the socket file, if we read it ourselves."""
        if self._file is None:
            return None
        sock = getattr(getattr(self._file, "raw", None), "_sock", None)
        return sock if isinstance(sock, socket.socket) else None

    def close(self) -> None:
        """Release the connection: back to the pool if the body was read to its
        clean end, otherwise closed (never reused)."""
        self._token.detach()
        raw = self._raw
        if self.reusable:
            fp = getattr(raw, "_fp", None)
            try:
                if fp is not None:
                    fp.close()
                raw.release_conn()
            except Exception:
                pass
        else:
            try:
                raw.close()
            except Exception:
                pass
        try:
            self._response.close()
        except Exception:
            pass


def _open_body(raw: Any) -> tuple[Any, Dechunker | None, int | None]:
    """The buffered socket file under an urllib3 response, with how its body
    is framed; ``(None, None, None)`` selects urllib3's own reads instead.

    This is the one place that reaches into urllib3 / http.client internals
    (``HTTPResponse._fp`` and its ``fp``); tests pin both paths.
    """
    fp = getattr(raw, "_fp", None)
    file = getattr(fp, "fp", None)
    if file is None or not hasattr(file, "read1"):
        return None, None, None
    if getattr(fp, "chunked", False):
        if getattr(fp, "chunk_left", None) is not None:
            return None, None, None  # http.client already began the chunks
        return file, Dechunker(), None
    length = getattr(fp, "length", None)
    if isinstance(length, int):
        return file, None, length
    return file, None, None


def map_read_error(exc: BaseException, token: CancelToken) -> StreamError:
    """Our error for what a body read raised (the cancel's, if cancelled)."""
    if token.cancelled:
        return StreamCancelled(reason=token.reason or "cancelled")
    if isinstance(exc, (socket.timeout, TimeoutError)) or _is_read_timeout(exc):
        return ReadTimeout("no data from the server within the read timeout")
    if isinstance(exc, (OSError, urllib3.exceptions.HTTPError, requests.RequestException)):
        return StreamConnectionError(f"connection failed while reading the stream: {exc}")
    return StreamConnectionError(f"reading the stream failed: {exc!r}")


def _is_read_timeout(exc: BaseException) -> bool:
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 6:
        if isinstance(cur, (urllib3.exceptions.ReadTimeoutError, requests.exceptions.ReadTimeout)):
            return True
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, (urllib3.exceptions.ReadTimeoutError, socket.timeout)):
                return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False
