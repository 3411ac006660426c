"""HTTP for streams, over ``requests``: sending a request, reading its head.

``RequestsTransport`` implements the ``Transport`` protocol (``_base``). With
``_body`` (the body, read as it arrives), ``_pool`` (expiring pooled
connections) and ``_internals`` (the one module that reaches into requests',
urllib3's and http.client's private parts) it is the only place that touches
``requests`` and urllib3, and it wraps every trap of ``requests`` with
streamed bodies (see DESIGN.md field notes) so nothing above it sees them:

* ``Accept-Encoding: identity`` (gzip buffers events); a server that
  compresses anyway is inflated in bounded steps (``_body``);
* redirects are never followed, so a key never travels to another host;
* proxies from the environment are resolved once per host, not per request
  (``trust_env`` scans the environment on every call);
* a failure is re-typed once, here: timeouts, connection errors, a TLS
  verification failure (not retryable), a malformed response head such as a
  header flood (a ``ProtocolError``, not retryable);
* TLS verification takes ``verify=`` (True, False or a CA bundle), else the
  environment's CA bundle variables;
* after ``os.fork()`` the child starts with an empty pool of its own.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import weakref
from collections.abc import Mapping

import requests
import requests.utils
import urllib3.exceptions

from .._version import __version__
from ..errors import (
    ConfigurationError,
    ConnectTimeout,
    ProtocolError,
    ReadTimeout,
    StreamCancelled,
    StreamConnectionError,
    StreamError,
)
from ..providers._base import HTTPRequest
from . import _internals as internals
from ._base import MAX_ERROR_BODY, read_all
from ._base import Body as Body  # the protocols, importable from here as before
from ._base import Response as Response
from ._base import Transport as Transport
from ._body import RequestsBody, map_read_error
from ._cancel import CancelToken
from ._pool import DEFAULT_KEEPALIVE_EXPIRY, Adapter
from ._reactor import Reactor, shared_reactor
from ._timeouts import Timeout

__all__ = ["MAX_ERROR_BODY", "Body", "RequestsResponse", "RequestsTransport", "Response",
           "Transport", "map_read_error"]

_USER_AGENT = f"streamactors/{__version__} python-requests/{requests.__version__}"


class RequestsResponse:
    """Status, headers and body of a stream's HTTP response (implements
    ``Response``)."""

    def __init__(self, response: requests.Response, token: CancelToken) -> None:
        self.status_code = response.status_code
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in response.headers.items()}
        raw = response.raw
        token.attach(lambda: internals.shutdown_response(raw))
        self.body = RequestsBody(response, token)

    def read_all(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """The rest of the body, up to ``limit`` bytes (for error bodies)."""
        return read_all(self.body, limit)

    def close(self) -> None:
        self.body.close()


class RequestsTransport:
    """A pool of connections shared by the streams of one ``Client``
    (implements ``Transport`` over requests and urllib3).

    Args:
        pool_maxsize: connections kept per host.
        trust_env: read proxy settings (once per host) and the CA bundle
            variables from the environment.
        reader: ``"thread"`` or ``"reactor"`` (see ``Client``).
        verify: TLS verification: True, False, or a CA bundle path; None
            takes ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE`` or
            ``CURL_CA_BUNDLE`` (with ``trust_env``), else the system's CAs.
        keepalive_expiry: seconds an idle pooled connection is kept.
    """

    def __init__(
        self, *, pool_maxsize: int = 256, trust_env: bool = True, reader: str = "thread",
        verify: bool | str | None = None,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        if reader not in ("thread", "reactor"):
            raise ValueError(f"reader must be 'thread' or 'reactor', got {reader!r}")
        #: The shared body reader of ``reader="reactor"``, else None.
        self.reactor: Reactor | None = shared_reactor() if reader == "reactor" else None
        self._pool_maxsize = pool_maxsize
        self._keepalive_expiry = keepalive_expiry
        self._session = self._new_session()
        self._verify = _verify_setting(verify, trust_env)
        self._trust_env = trust_env
        self._proxies: dict[str, dict[str, str]] = {}
        _transports.add(self)

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        adapter = Adapter(pool_connections=16, pool_maxsize=self._pool_maxsize, max_retries=0,
                          keepalive_expiry=self._keepalive_expiry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _after_fork_in_child(self) -> None:
        """A forked child must not use the parent's pooled sockets: both
        processes would read each other's answers. Forget them (closing our
        copies of the file descriptors only, never shutting the sockets down,
        which would cut the parent's connections too)."""
        old = self._session
        self._session = self._new_session()
        for pool in internals.pools_of(old):
            try:
                pool.close()
            except Exception:
                pass

    def __repr__(self) -> str:
        return f"<RequestsTransport trust_env={self._trust_env}>"

    def _proxies_for(self, url: str) -> dict[str, str]:
        if not self._trust_env:
            return {}
        key = url.split("/", 3)[2] if "://" in url else url
        found = self._proxies.get(key)
        if found is None:
            found = self._proxies[key] = dict(requests.utils.get_environ_proxies(url))
        return found

    def send(self, request: HTTPRequest, timeout: Timeout,
             token: CancelToken) -> RequestsResponse:
        """Send ``request`` and return once the response headers arrived.

        Raises:
            StreamCancelled, ConnectTimeout, ReadTimeout, StreamConnectionError,
            ProtocolError (a header flood, a malformed status line).
        """
        # Secret header values stay masked in any repr (a traceback printed
        # with its frames' locals shows this dict).
        headers = {"User-Agent": _USER_AGENT, **request.wire_headers()}
        headers.setdefault("Accept-Encoding", "identity")
        body = json.dumps(request.body, ensure_ascii=False).encode("utf-8")
        try:
            if token.cancelled:
                raise StreamCancelled(reason=token.reason or "cancelled")
            # Our own prepared request into Session.send: Session.request
            # would merge session settings and the environment into it first,
            # which a stream does not need (0.06-0.15 ms per stream, measured).
            # Session.send, not the adapter, so that requests-mock still works.
            prepared = requests.PreparedRequest()
            prepared.prepare(method=request.method, url=request.url, headers=headers, data=body)
            with internals.sending(token):
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
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
            raise self._cancelled_or(token, _send_error(exc, request.url, timeout)) from None
        try:
            return RequestsResponse(response, token)
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
        for pool in internals.pools_of(self._session):
            try:
                pool.close()
            except Exception:
                pass
        self._session.close()


def _verify_setting(verify: bool | str | None, trust_env: bool) -> bool | str:
    """The ``verify`` requests takes: ours, else the environment's CA bundle."""
    if verify is None:
        if not trust_env:
            return True
        for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
            if os.environ.get(name):
                return os.environ[name]
        return True
    if isinstance(verify, bool):
        return verify
    if isinstance(verify, (str, os.PathLike)) and os.path.exists(verify):
        return os.fspath(verify)
    raise ConfigurationError(
        f"verify must be True, False or the path of a CA bundle (a PEM file or a "
        f"directory), got {verify!r}" + (" (no such file)" if isinstance(verify, str) else "")
    )


def _send_error(exc: BaseException, url: str, timeout: Timeout) -> StreamError:
    """Our error for what sending a request raised."""
    host = _host(url)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectTimeout(f"could not connect to {host} within {timeout.connect} s: {exc}")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ReadTimeout(f"no response headers from {host} within {timeout.read} s")
    cause = internals.root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        err = StreamConnectionError(
            f"TLS certificate verification failed for {host}: {cause.verify_message}; give "
            "the CA that signed it with Client(verify='/path/to/ca.pem') (or "
            "REQUESTS_CA_BUNDLE / SSL_CERT_FILE)")
        err.retryable = False  # the same certificate will fail the same way
        return err
    if isinstance(cause, http.client.HTTPException) and not isinstance(
            cause, http.client.RemoteDisconnected):
        # A header flood, an endless header line, a garbled status line: the
        # server is broken, not busy; a retry would get the same.
        return ProtocolError(f"{host} sent a malformed response head: {cause!r}")
    return StreamConnectionError(f"request to {host} failed: {exc}")


_transports: weakref.WeakSet[RequestsTransport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for transport in list(_transports):
        transport._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _host(url: str) -> str:
    return url.split("/", 3)[2] if "://" in url else url
