"""HTTP for streams, over ``requests``: the only module that imports it.

It wraps every trap of ``requests`` with streamed bodies (see DESIGN.md field
notes) so nothing above it sees them:

* bodies are read as bytes, as they arrive, one socket read per burst: for a
  chunked body we read the buffered socket file with ``read1`` and de-chunk
  ourselves (urllib3 would cost one call per event); for other bodies
  ``read1`` up to the length or EOF. The ``_fp`` internals this needs are
  reached in ``_open_body`` only, with a generic fallback;
* ``Accept-Encoding: identity`` (gzip buffers events); a server that compresses
  anyway is decoded with zlib;
* redirects are never followed, so a key never travels to another host;
* proxies from the environment are resolved once per host, not per request
  (``trust_env`` scans the environment on every call);
* a read timeout in the middle of a body becomes our ``ReadTimeout``;
* the connection goes back to the pool only when the body was read to its
  end; on any failure or cancel it is closed.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import zlib
from collections.abc import Mapping
from typing import Any

import requests
import requests.adapters
import requests.utils
import urllib3
import urllib3.connection
import urllib3.exceptions
import urllib3.util.connection

from ._cancel import CancelToken
from ._chunked import Dechunker
from ._pool import Adapter, current_token
from ._reactor import Reactor, shared_reactor
from ._timeout import Timeout
from ._version import __version__
from .errors import (
    ConnectTimeout,
    ReadTimeout,
    StreamCancelled,
    StreamConnectionError,
    StreamError,
)
from .providers._base import HTTPRequest

__all__ = ["Body", "Response", "Transport", "map_read_error"]

_READ_SIZE = 65536
_USER_AGENT = f"streamactors/{__version__} python-requests/{requests.__version__}"
MAX_ERROR_BODY = 1024 * 1024


class Body:
    """The body of a streaming response, read as it arrives.

    ``read()`` returns the next bytes (at least one) or b"" at the end of the
    body. A body that was not read to its end is never reused.
    """

    def __init__(self, response: requests.Response, token: CancelToken) -> None:
        self._response = response
        self._raw = response.raw
        self._token = token
        self._finished = False
        self._decompress: Any = None
        encoding = response.headers.get("content-encoding", "").lower().strip()
        if encoding in ("gzip", "x-gzip"):
            self._decompress = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decompress = zlib.decompressobj()
        self._file, self._dechunker, self._remaining = _open_body(self._raw)
        self._timeout: float | None = None

    def read(self) -> bytes:
        while True:
            data = self._read_once()
            if self._decompress is not None:
                data = self._decompress.decompress(data) if data else self._decompress.flush()
                if not data and not self._finished:
                    continue
            return data

    # -- reads by the reactor (one selector thread for many bodies) ----------

    def nonblocking_socket(self) -> tuple[socket.socket, bytes] | None:
        """Switch the body to reads by the reactor.

        Returns the socket, now non-blocking, with the body bytes the socket
        file had already buffered; None when this body cannot be read that
        way (urllib3's own read path, or no plain socket under it). The
        socket goes back to blocking in ``restore_blocking``.
        """
        if self._file is None:
            return None
        sock = getattr(getattr(self._file, "raw", None), "_sock", None)
        if not isinstance(sock, socket.socket):
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
        """Body payload from bytes the reactor read off the socket (b"" means
        EOF); sets ``finished`` at the end of the body.

        Raises:
            StreamConnectionError: EOF before the end of a framed body.
        """
        if self._dechunker is not None:
            if not data:
                raise StreamConnectionError("connection closed before the end of the chunked body")
            payload = self._dechunker.feed(data)
            if self._dechunker.done:
                self._finished = True
        elif self._remaining is not None:
            if not data:
                raise StreamConnectionError(
                    f"connection closed with {self._remaining} body bytes missing"
                )
            payload = data[: self._remaining]
            self._remaining -= len(data)
            if self._remaining <= 0:
                self._finished = True
        else:
            payload = data
            if not data:
                self._finished = True
        if self._decompress is not None:
            payload = self._decompress.decompress(payload) if payload else b""
            if self._finished:
                payload += self._decompress.flush()
        return payload

    def _read_once(self) -> bytes:
        if self._finished:
            return b""
        try:
            if self._file is None:
                data = self._raw.read1(_READ_SIZE, decode_content=False)
                if not data:
                    self._finished = True
                return data
            dechunker = self._dechunker
            while True:
                if self._remaining is not None:
                    if self._remaining <= 0:
                        self._finished = True
                        return b""
                    data = self._file.read1(min(_READ_SIZE, self._remaining))
                    if not data:
                        raise StreamConnectionError(
                            f"connection closed with {self._remaining} body bytes missing"
                        )
                    self._remaining -= len(data)
                    return data  # type: ignore[no-any-return]
                data = self._file.read1(_READ_SIZE)
                if dechunker is None:
                    if not data:
                        self._finished = True
                    return data  # type: ignore[no-any-return]
                if not data:
                    raise StreamConnectionError(
                        "connection closed before the end of the chunked body"
                    )
                payload = dechunker.feed(data)
                if dechunker.done:
                    self._finished = True
                    return payload
                if payload:
                    return payload
        except StreamError:
            raise
        except Exception as exc:
            raise map_read_error(exc, self._token) from None

    @property
    def finished(self) -> bool:
        """True once the body was read to its end (the connection is reusable)."""
        return self._finished

    def close(self) -> None:
        """Release the connection: back to the pool if the body was read to its
        end, otherwise closed (never reused)."""
        self._token.detach()
        raw = self._raw
        if self._finished and not self._token.cancelled:
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
    if file is None or not hasattr(file, "read1") or getattr(fp, "chunk_left", None) is not None:
        return None, None, None
    if getattr(fp, "chunked", False):
        return file, Dechunker(), None
    length = getattr(fp, "length", None)
    if isinstance(length, int):
        return file, None, length
    return file, None, None


def map_read_error(exc: BaseException, token: CancelToken) -> StreamError:
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


class Response:
    """Status, headers and body of a stream's HTTP response."""

    def __init__(self, response: requests.Response, token: CancelToken) -> None:
        self.status_code = response.status_code
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in response.headers.items()}
        self._response = response
        self._token = token
        token.attach_response(response.raw)
        self.body = Body(response, token)

    def read_all(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """The rest of the body, up to ``limit`` bytes (for error bodies)."""
        parts = []
        size = 0
        while size < limit:
            data = self.body.read()
            if not data:
                break
            parts.append(data)
            size += len(data)
        return b"".join(parts)[:limit]

    def close(self) -> None:
        self.body.close()


class Transport:
    """A pool of connections shared by the streams of one ``Client``.

    Args:
        pool_maxsize: connections kept per host.
        trust_env: read proxy settings from the environment (once per host).
    """

    def __init__(
        self, *, pool_maxsize: int = 256, trust_env: bool = True, reader: str = "thread"
    ) -> None:
        if reader not in ("thread", "reactor"):
            raise ValueError(f"reader must be 'thread' or 'reactor', got {reader!r}")
        #: The shared body reader of ``reader="reactor"``, else None.
        self.reactor: Reactor | None = shared_reactor() if reader == "reactor" else None
        session = requests.Session()
        session.trust_env = False
        adapter = Adapter(pool_connections=16, pool_maxsize=pool_maxsize, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        # What requests would take from the environment for TLS, read once.
        self._verify: bool | str = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            if trust_env else True
        )
        self._trust_env = trust_env
        self._proxies: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"<Transport trust_env={self._trust_env}>"

    def _proxies_for(self, url: str) -> dict[str, str]:
        if not self._trust_env:
            return {}
        key = url.split("/", 3)[2] if "://" in url else url
        found = self._proxies.get(key)
        if found is None:
            found = self._proxies[key] = dict(requests.utils.get_environ_proxies(url))
        return found

    def send(self, request: HTTPRequest, timeout: Timeout, token: CancelToken) -> Response:
        """Send ``request`` and return once the response headers arrived.

        Raises:
            StreamCancelled, ConnectTimeout, ReadTimeout, StreamConnectionError.
        """
        headers = {"User-Agent": _USER_AGENT, **request.wire_headers()}
        headers.setdefault("Accept-Encoding", "identity")
        body = json.dumps(request.body, ensure_ascii=False).encode("utf-8")
        current_token.token = token
        try:
            if token.cancelled:
                raise StreamCancelled(reason=token.reason or "cancelled")
            # Our own prepared request into Session.send: Session.request
            # would merge session settings and the environment into it first,
            # which a stream does not need (0.06-0.15 ms per stream, measured).
            # Session.send, not the adapter, so that requests-mock still works.
            prepared = requests.PreparedRequest()
            prepared.prepare(method=request.method, url=request.url, headers=headers, data=body)
            response = self._session.send(
                prepared,
                stream=True,
                allow_redirects=False,
                timeout=(timeout.connect, timeout.read),
                verify=self._verify,
                proxies=self._proxies_for(request.url),
            )
        except StreamError:
            raise
        except requests.exceptions.ConnectTimeout as exc:
            raise self._cancelled_or(
                token, ConnectTimeout(f"could not connect within {timeout.connect} s: {exc}")
            ) from None
        except requests.exceptions.ReadTimeout:
            raise self._cancelled_or(
                token, ReadTimeout(f"no response headers within {timeout.read} s")
            ) from None
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
            raise self._cancelled_or(
                token, StreamConnectionError(f"request to {_host(request.url)} failed: {exc}")
            ) from None
        finally:
            current_token.token = None
        try:
            return Response(response, token)
        except BaseException:
            token.detach()
            response.close()
            raise

    @staticmethod
    def _cancelled_or(token: CancelToken, error: StreamError) -> StreamError:
        token.detach()
        if token.cancelled:
            return StreamCancelled(reason=token.reason or "cancelled")
        return error

    def close(self) -> None:
        """Close every pooled connection now.

        urllib3 2.x no longer closes a pool when its manager is cleared
        (``Session.close()`` only forgets the pools), so their idle sockets
        would stay open until garbage collection, for as long as anything
        (an error's traceback, say) still references a pool. Close them here.
        """
        seen: set[int] = set()
        for adapter in self._session.adapters.values():
            if id(adapter) in seen:
                continue
            seen.add(id(adapter))
            managers = [getattr(adapter, "poolmanager", None),
                        *getattr(adapter, "proxy_manager", {}).values()]
            for manager in managers:
                pools = getattr(manager, "pools", None)
                if pools is None:
                    continue
                for key in list(pools.keys()):
                    pool = pools.get(key)
                    try:
                        if pool is not None:
                            pool.close()
                    except Exception:
                        pass
        self._session.close()


def _host(url: str) -> str:
    return url.split("/", 3)[2] if "://" in url else url
