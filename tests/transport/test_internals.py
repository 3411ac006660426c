"""Every reach into requests', urllib3's and http.client's private parts
(``transport/_internals.py``), pinned against the installed versions, with
its fallback when a version or an attribute is not what it knows."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import requests_mock
import urllib3
from urllib3.connectionpool import HTTPConnectionPool

import streamactors as sa
from streamactors.providers import HTTPRequest
from streamactors.testing import LoopbackServer, Script
from streamactors.transport import _internals as internals
from streamactors.transport._cancel import CancelToken
from streamactors.transport._pool import Adapter
from streamactors.transport._requests import RequestsTransport
from streamactors.transport._timeouts import Timeout

from ..reliability import blackhole
from ._raw import RawServer, head

pytestmark = pytest.mark.timeout(20)

CHUNKED = head(transfer_encoding="chunked", content_type="text/event-stream")


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A requests session with our adapter, as ``RequestsTransport`` builds it."""
    s = requests.Session()
    s.trust_env = False
    s.mount("http://", Adapter(max_retries=0))
    yield s
    for pool in internals.pools_of(s):
        pool.close()
    s.close()


@pytest.fixture
def fresh_logs() -> Iterator[None]:
    """The once-only log lines and the version check start afresh."""
    internals._fallback.cache_clear()
    internals.enabled.cache_clear()
    yield
    internals._fallback.cache_clear()
    internals.enabled.cache_clear()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- versions ----------------------------------------------------------------------


def test_the_installed_versions_are_supported() -> None:
    assert internals.enabled()
    assert internals._within("2.7.0", internals.SUPPORTED_URLLIB3)
    assert not internals._within("1.26.20", internals.SUPPORTED_URLLIB3)
    assert not internals._within("3.0.0", internals.SUPPORTED_URLLIB3)
    assert internals._within("2.34.2", internals.SUPPORTED_REQUESTS)
    assert not internals._within("2.30.0", internals.SUPPORTED_REQUESTS)
    assert not internals._within("2.40.0", internals.SUPPORTED_REQUESTS)
    assert internals._version("2.0.0a1") == (2, 0)


def test_outside_the_versions_streams_use_the_public_path(
        fresh_logs: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        loopback_server: LoopbackServer) -> None:
    monkeypatch.setattr(urllib3, "__version__", "3.0.0")
    assert not internals.enabled() and not internals.enabled()
    assert len(_warnings(caplog)) == 1 and "3.0.0" in _warnings(caplog)[0]
    transport = RequestsTransport(trust_env=False)
    try:
        manager = _manager(transport._session)
        assert manager.pool_classes_by_scheme["http"] is HTTPConnectionPool  # urllib3's own
        response = transport.send(_request(loopback_server.url("openai")), Timeout(5),
                                  CancelToken())
        assert response.body.nonblocking_socket() is None  # urllib3 reads it
        assert b"data: [DONE]" in response.read_all() and response.body.finished
        response.close()
    finally:
        transport.close()
    with sa.Client(base_url=loopback_server.url("openai"), api_key="k", env={}) as client:
        assert client.chat("openai/m", [{"role": "user", "content": "hi"}]).wait(10).text \
            == Script().text


def _manager(session: requests.Session) -> Any:
    adapter = session.get_adapter("http://x")
    assert isinstance(adapter, Adapter)
    return adapter.poolmanager


def _request(url: str) -> HTTPRequest:
    return HTTPRequest(method="POST", url=url + "/chat/completions", body={"stream": True})


# -- the socket file under a response --------------------------------------------------


def test_the_socket_file_of_a_chunked_response(session: requests.Session,
                                               loopback_server: LoopbackServer) -> None:
    r = session.post(loopback_server.url("openai") + "/chat/completions", json={},
                     stream=True)
    found = internals.socket_file(r.raw)
    assert found is not None and found.chunked and found.length is None
    assert callable(found.file.read1)
    assert isinstance(internals.socket_of(found.file), socket.socket)
    r.close()


def test_the_socket_file_of_a_length_and_of_a_close_delimited_response(
        session: requests.Session) -> None:
    with RawServer(head(content_length="5") + b"hello") as server:
        found = internals.socket_file(session.post(server.url, stream=True).raw)
        assert found is not None and not found.chunked and found.length == 5
    with RawServer(head() + b"hello", close=True) as server:
        found = internals.socket_file(session.post(server.url, stream=True).raw)
        assert found is not None and not found.chunked and found.length is None


def test_chunks_http_client_began_are_left_to_urllib3(
        session: requests.Session, loopback_server: LoopbackServer) -> None:
    r = session.post(loopback_server.url("openai") + "/chat/completions", json={},
                     stream=True)
    fp: Any = r.raw._fp
    fp.read(1)  # http.client is now inside a chunk
    assert internals.socket_file(r.raw) is None
    r.close()


def test_a_mocked_response_falls_back_silently(fresh_logs: None,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with requests_mock.Mocker() as mock:
        mock.post("http://mocked.test/v1", content=b"data: 1\n\n")
        r = requests.post("http://mocked.test/v1", stream=True)
        assert internals.socket_file(r.raw) is None
    assert _warnings(caplog) == []


def test_a_missing_attribute_falls_back_and_is_logged_once(
        fresh_logs: None, caplog: pytest.LogCaptureFixture) -> None:
    raw = SimpleNamespace(release_conn=lambda: None)  # a urllib3 response without _fp
    assert internals.socket_file(raw) is None and internals.socket_file(raw) is None
    assert len(_warnings(caplog)) == 1 and "HTTPResponse._fp" in _warnings(caplog)[0]
    conn = SimpleNamespace()  # a connection without _dns_host
    with socket.socket() as theirs, internals.sending(CancelToken()):
        assert internals._connect(conn, lambda: theirs) is theirs
    assert "_dns_host" in _warnings(caplog)[-1]


# -- pools -------------------------------------------------------------------------


def test_a_released_connection_is_idle_in_its_pool(session: requests.Session) -> None:
    with RawServer(head(content_length="5") + b"hello") as server:
        r = session.post(server.url, stream=True)
        found = internals.socket_file(r.raw)
        assert found is not None and found.file.read1(100) == b"hello"
        internals.release(r.raw)
        (pool,) = internals.pools_of(session)
        with internals.idle_connections(pool) as idle:
            assert len(idle) == 1 and internals.connection_socket(idle[0]) is not None
        session.post(server.url, stream=True).close()
        assert server.connections == 1  # reused


def test_idle_connections_of_a_closed_or_unknown_pool(fresh_logs: None,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with internals.idle_connections(SimpleNamespace(pool=None)) as idle:
        assert idle == []
    with internals.idle_connections(SimpleNamespace(pool=SimpleNamespace())) as idle:
        assert idle == []
    assert "mutex/queue" in _warnings(caplog)[0]


def test_our_pool_classes_are_installed_and_a_missing_hook_is_logged(
        fresh_logs: None, caplog: pytest.LogCaptureFixture, session: requests.Session) -> None:
    manager = _manager(session)
    assert issubclass(manager.pool_classes_by_scheme["http"], internals.HookedPool)
    internals.use_pool_classes(object(), {})
    assert "pool_classes_by_scheme" in _warnings(caplog)[0]


def test_interim_responses_are_skipped(session: requests.Session) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    with RawServer(early + early + head(content_length="2") + b"ok") as server:
        r = session.post(server.url)
        assert (r.status_code, r.content) == (200, b"ok")
    with RawServer(early * 11 + head(content_length="2") + b"ok") as server:
        with pytest.raises(requests.ConnectionError) as caught:
            session.post(server.url)
        cause = internals.root_cause(caught.value)
        assert isinstance(cause, http.client.HTTPException) and "interim" in str(cause)
    assert internals._MAX_LINE == http.client._MAXLINE  # type: ignore[attr-defined]


# -- cancel ------------------------------------------------------------------------


def test_sending_is_seen_by_this_thread_only_and_only_inside() -> None:
    token = CancelToken()
    seen: list[object] = []
    with internals.sending(token):
        assert internals._token() is token
        other = threading.Thread(target=lambda: seen.append(internals._token()))
        other.start()
        other.join()
    assert seen == [None] and internals._token() is None
    with pytest.raises(KeyError), internals.sending(token):
        raise KeyError
    assert internals._token() is None


def _blocked_read(file: Any) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []
    thread = threading.Thread(target=lambda: got.append(file.read1(100)))
    thread.start()
    time.sleep(0.1)
    assert thread.is_alive()  # blocked in recv
    return thread, got


def test_a_connection_given_out_is_handed_to_the_token(session: requests.Session) -> None:
    with RawServer(CHUNKED + b"3\r\nabc\r\n", threading.Event()) as server:
        token = CancelToken()
        with internals.sending(token):
            r = session.post(server.url, stream=True)
        found = internals.socket_file(r.raw)
        assert found is not None and found.file.read1(100) == b"3\r\nabc\r\n"
        thread, got = _blocked_read(found.file)
        token.cancel()  # the connection's abort, attached by the pool's _get_conn
        thread.join(1)
        assert got == [b""]
        r.close()


def test_shutdown_response_releases_a_blocked_read(session: requests.Session) -> None:
    with RawServer(CHUNKED + b"3\r\nabc\r\n", threading.Event()) as server:
        r = session.post(server.url, stream=True)
        found = internals.socket_file(r.raw)
        assert found is not None and found.file.read1(100)
        thread, got = _blocked_read(found.file)
        internals.shutdown_response(r.raw)
        thread.join(1)
        assert got == [b""]
        r.close()


def test_shutdown_response_without_shutdown_reaches_the_connection(
        fresh_logs: None, caplog: pytest.LogCaptureFixture) -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        internals.shutdown_response(SimpleNamespace(connection=SimpleNamespace(sock=ours)))
        assert peer.recv(1) == b""  # shut down: the peer sees EOF
    assert "shutdown" in _warnings(caplog)[0]


def test_cancel_releases_a_hanging_connect() -> None:
    listener, fillers = blackhole()
    transport = RequestsTransport(trust_env=False)
    token = CancelToken()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        timer = threading.Timer(0.2, token.cancel)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(sa.StreamCancelled):
            transport.send(_request(url), Timeout(connect=10, read=10), token)
        assert time.monotonic() - t0 < 1.5  # not the 10 s connect timeout
        timer.join()
    finally:
        transport.close()
        for s in [listener, *fillers]:
            s.close()


# -- exception chains ------------------------------------------------------------------


def test_root_cause_and_read_timeout_in_requests_chains(session: requests.Session) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(requests.ConnectionError) as refused:
        session.post(f"http://127.0.0.1:{port}/v1")
    assert isinstance(internals.root_cause(refused.value), ConnectionRefusedError)
    assert not internals.is_read_timeout(refused.value)
    with RawServer(CHUNKED, threading.Event()) as server:
        r = session.post(server.url, stream=True, timeout=(2, 0.2))
        with pytest.raises(requests.ConnectionError) as stalled:
            next(r.iter_content(10))
        assert internals.is_read_timeout(stalled.value)
        r.close()


def test_root_cause_ends_on_a_cycle() -> None:
    exc = ValueError("loop")
    exc.__context__ = KeyError("k")
    exc.__context__.__context__ = exc
    assert isinstance(internals.root_cause(exc), (ValueError, KeyError))
    assert not internals.is_read_timeout(exc)
