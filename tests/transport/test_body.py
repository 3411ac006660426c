"""RequestsBody: each framing read through the one ``_wire`` reader, the same
way by the worker's blocking reads (``read``) and by the shared reader's
non-blocking ones (``feed_raw``); a connection is reused only after a clean
end."""

from __future__ import annotations

import gc
import select
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from streamactors.errors import ProtocolError, StreamConnectionError
from streamactors.providers import HTTPRequest
from streamactors.transport._base import Body
from streamactors.transport._cancel import CancelToken
from streamactors.transport._requests import RequestsResponse, RequestsTransport
from streamactors.transport._timeouts import Timeout

from ._raw import RawServer, head

pytestmark = pytest.mark.timeout(20)

MODES = ["read", "feed_raw"]


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    t = RequestsTransport(trust_env=False)
    yield t
    t.close()


def _send(transport: RequestsTransport, server: RawServer) -> RequestsResponse:
    request = HTTPRequest(method="POST", url=server.url, body={})
    return transport.send(request, Timeout(connect=2, read=2), CancelToken())


def _drain(body: Body, mode: str) -> bytes:
    """The whole payload, read on this thread (``read``) or as the shared
    reader does (``nonblocking_socket`` + ``feed_raw``)."""
    out: list[bytes] = []
    if mode == "read":
        while data := body.read():
            out.append(data)
        return b"".join(out)
    handoff = body.nonblocking_socket()
    assert handoff is not None
    sock, buffered = handoff
    deadline = time.monotonic() + 5
    try:
        if buffered:
            out.append(body.feed_raw(buffered))
        while not body.finished and time.monotonic() < deadline:
            select.select([sock], [], [], 0.5)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            out.append(body.feed_raw(data))
    finally:
        body.restore_blocking(sock)
    return b"".join(out)


@pytest.mark.parametrize("mode", MODES)
def test_a_length_body_read_to_its_end_keeps_the_connection(
        transport: RequestsTransport, mode: str) -> None:
    with RawServer(head(content_length="11") + b"hello world") as server:
        for _ in range(2):
            response = _send(transport, server)
            assert _drain(response.body, mode) == b"hello world"
            assert response.body.finished and response.body.reusable
            response.close()
        assert server.connections == 1


@pytest.mark.parametrize("mode", MODES)
def test_bytes_past_the_content_length_are_a_protocol_error(
        transport: RequestsTransport, mode: str) -> None:
    with RawServer(head(content_length="3") + b"abcXY") as server:
        response = _send(transport, server)
        with pytest.raises(ProtocolError, match="more than its Content-Length"):
            _drain(response.body, mode)
        assert not response.body.reusable
        response.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_length_body_cut_short_is_a_connection_error(
        transport: RequestsTransport, mode: str) -> None:
    with RawServer(head(content_length="10") + b"abc", close=True) as server:
        response = _send(transport, server)
        with pytest.raises(StreamConnectionError, match="7 body bytes missing"):
            _drain(response.body, mode)
        response.close()


@pytest.mark.parametrize("mode", MODES)
def test_bytes_after_a_chunked_body_cost_the_connection(
        transport: RequestsTransport, mode: str) -> None:
    wire = head(transfer_encoding="chunked") + b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"
    with RawServer(wire) as server:
        for _ in range(2):
            response = _send(transport, server)
            assert _drain(response.body, mode) == b"abc"
            assert response.body.finished and not response.body.reusable
            response.close()
        assert server.connections == 2  # never reused


@pytest.mark.parametrize("mode", MODES)
def test_a_close_delimited_body_ends_at_eof(transport: RequestsTransport, mode: str) -> None:
    with RawServer(head() + b"data: 1\n\n", close=True) as server:
        response = _send(transport, server)
        assert _drain(response.body, mode) == b"data: 1\n\n"
        assert response.body.finished
        response.close()


def test_an_empty_length_body_needs_no_read(transport: RequestsTransport) -> None:
    with RawServer(head(content_length="0")) as server:
        response = _send(transport, server)
        assert response.body.finished and response.body.read() == b""
        assert response.read_all() == b"" and response.body.reusable
        response.close()


def test_an_open_body_keeps_urllib3s_response_not_requests(
        transport: RequestsTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests' Response (its prepared request, two cookie jars, two header
    # dicts) is dropped once the head is read: a live stream holds less for
    # the garbage collector to walk.
    seen: list[weakref.ref[requests.Response]] = []
    original = requests.Session.send

    def send(self: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
        response = original(self, *args, **kwargs)
        seen.append(weakref.ref(response))
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    with RawServer(head(content_length="11") + b"hello world") as server:
        response = _send(transport, server)
        gc.collect()
        assert len(seen) == 1 and seen[0]() is None
        assert _drain(response.body, "read") == b"hello world"
        assert response.body.reusable
        response.close()
