"""Transport: our chunked-body decoder, connection reuse, and the fallback
read path when urllib3's internals are not what we expect."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamactors as sa
from streamactors._wire._chunked import Dechunker as _Dechunker
from streamactors.errors import ProtocolError
from streamactors.testing import LoopbackServer, Script
from streamactors.transport import _body as _body

MSGS = [{"role": "user", "content": "hi"}]


def _chunked(pieces: list[bytes], trailers: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return body + b"0\r\n" + trailers + b"\r\n"


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=40), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
    trailers=st.sampled_from([b"", b"X-Trailer: 1\r\n"]),
)
def test_dechunker_any_split(pieces: list[bytes], cuts: list[int], trailers: bytes) -> None:
    wire = _chunked(pieces, trailers)
    bounds = sorted({0, len(wire), *(c for c in cuts if c < len(wire))})
    d = _Dechunker()
    out = b"".join(d.feed(wire[a:b]) for a, b in itertools.pairwise(bounds))
    assert out == b"".join(pieces)
    assert d.done


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.binary(min_size=1, max_size=40), max_size=12))
def test_dechunker_one_chunk_per_read(pieces: list[bytes]) -> None:
    # How a paced server sends: each read is exactly one whole chunk (the
    # decoder's fast path), payloads holding CRLFs and hex digits included.
    wire = _chunked(pieces)
    frames = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
    d = _Dechunker()
    out = [d.feed(f) for f in frames]
    assert out == pieces
    assert d.feed(wire[sum(map(len, frames)):]) == b"" and d.done


def test_dechunker_whole_chunks_with_extensions_and_errors() -> None:
    d = _Dechunker()
    assert d.feed(b"3;x=1\r\nabc\r\n") == b"abc"
    assert d.feed(b"3\r\nabc\r\n") == b"abc"
    with pytest.raises(ProtocolError):
        _Dechunker().feed(b"3\r\nabcd\r\n")  # data longer than its size
    with pytest.raises(ProtocolError):
        _Dechunker().feed(b"zz\r\nab\r\n")


def test_dechunker_extensions_and_errors() -> None:
    d = _Dechunker()
    assert d.feed(b"3;ext=1\r\nabc\r\n0\r\n\r\n") == b"abc" and d.done
    with pytest.raises(ProtocolError):
        _Dechunker().feed(b"zz\r\nabc\r\n")
    with pytest.raises(ProtocolError):
        _Dechunker().feed(b"2\r\nabc\r\n")
    with pytest.raises(ProtocolError):
        _Dechunker().feed(b"1" * 5000)


@pytest.mark.timeout(20)
def test_connections_are_reused(loopback_server: LoopbackServer) -> None:
    url = loopback_server.url("openai")
    with sa.Client(base_url=url, api_key="k", env={}) as client:
        for _ in range(5):
            client.chat("openai/m", MSGS).wait(10)
    assert loopback_server.connections_total == 1


@pytest.mark.timeout(20)
def test_error_bodies_keep_the_connection(loopback_server: LoopbackServer) -> None:
    from streamactors.testing import Fault

    url = loopback_server.url("openai")
    with sa.Client(base_url=url, api_key="k", env={}, max_retries=0) as client:
        loopback_server.push(Script(fault=Fault("http_error", status=400)))
        with pytest.raises(sa.BadRequestError):
            client.chat("openai/m", MSGS).wait(10)
        client.chat("openai/m", MSGS).wait(10)
    assert loopback_server.connections_total == 1


@pytest.mark.timeout(20)
def test_fallback_read_path(loopback_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """If urllib3 internals change, bodies are read through urllib3 instead."""
    monkeypatch.setattr(_body, "_open_body", lambda raw: (None, None, None))
    url = loopback_server.url("openai")
    r = sa.chat("openai/m", MSGS, base_url=url, api_key="k").wait(10)
    assert r.text == Script().text


@pytest.mark.timeout(20)
def test_gzip_body_is_decoded(loopback_server: LoopbackServer) -> None:
    from streamactors.testing import Fault

    loopback_server.push(Script(fault=Fault("gzip")))
    r = sa.chat("openai/m", MSGS, base_url=loopback_server.url("openai"), api_key="k").wait(10)
    assert r.text == Script().text


def test_open_body_reaches_the_socket_file(loopback_server: LoopbackServer) -> None:
    """Pins the urllib3/http.client internals the fast path relies on."""
    import requests

    seen: list[Any] = []
    real = _body._open_body

    def spy(raw: Any) -> Any:
        out = real(raw)
        seen.append(out)
        return out

    _body._open_body = spy
    try:
        sa.chat("openai/m", MSGS, base_url=loopback_server.url("openai"), api_key="k").wait(10)
    finally:
        _body._open_body = real
    file, dechunker, remaining = seen[0]
    assert file is not None and dechunker is not None and remaining is None
    assert requests.__version__


@pytest.mark.timeout(20)
def test_idle_pooled_connections_close_after_the_keepalive_expiry(
        loopback_server: LoopbackServer) -> None:
    url = loopback_server.url("openai")
    with sa.Client(base_url=url, api_key="k", env={}, keepalive_expiry=0.3) as client:
        client.chat("openai/m", MSGS).wait(10)
        assert loopback_server.connections_open == 1  # pooled, idle
        # Nothing else happens: the sweep on the deadline thread closes it.
        assert _wait(lambda: loopback_server.connections_open == 0, 3.0)
        # The next stream simply opens a new connection.
        client.chat("openai/m", MSGS).wait(10)
        assert loopback_server.connections_total == 2


@pytest.mark.timeout(20)
def test_a_stale_connection_is_not_reused(loopback_server: LoopbackServer) -> None:
    url = loopback_server.url("openai")
    with sa.Client(base_url=url, api_key="k", env={}, keepalive_expiry=0.2) as client:
        client.chat("openai/m", MSGS).wait(10)
        time.sleep(0.25)  # expired, whether or not the sweep ran yet
        client.chat("openai/m", MSGS).wait(10)
        assert loopback_server.connections_total == 2


@pytest.mark.timeout(20)
def test_sa_close_closes_the_default_client(loopback_server: LoopbackServer) -> None:
    from streamactors import api

    url = loopback_server.url("openai")
    sa.chat("openai/m", MSGS, base_url=url, api_key="k").wait(10)
    first = api.default_client()
    assert loopback_server.connections_open >= 1
    sa.close()
    assert _wait(lambda: loopback_server.connections_open == 0, 2.0)
    sa.chat("openai/m", MSGS, base_url=url, api_key="k").wait(10)  # a fresh default client
    assert api.default_client() is not first
    sa.close()


@pytest.mark.timeout(20)
def test_extra_body_is_sent_as_it_is(loopback_server: LoopbackServer) -> None:
    url = loopback_server.url("openai")
    with sa.Client(base_url=url, api_key="k", env={}) as client:
        client.chat("openai/m", MSGS, extra_body={"vendor_flag": {"x": 1}, "temperature": 0.1},
                    temperature=0.9).wait(10)
        body = loopback_server.requests[-1].json()
        assert body["vendor_flag"] == {"x": 1} and body["temperature"] == 0.1
        assert "extra_body" not in body
        with pytest.raises(sa.ConfigurationError, match="extra_body"):
            client.chat("openai/m", MSGS, extra_body=["not", "a", "dict"])


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
