"""Streams over TLS, in both reader modes: the reactor reads TLS sockets
non-blocking (``SSLWantReadError``, decrypted bytes pending in the SSL layer),
so TLS gets its own end-to-end checks against a real HTTPS loopback server
(a self-signed certificate for 127.0.0.1 in tests/data)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import streamactors as sa
from streamactors.testing import Fault, LoopbackServer, Script

from .._collector import Collector

DATA = Path(__file__).resolve().parents[1] / "data"
CERT = str(DATA / "loopback-cert.pem")
MSGS = [{"role": "user", "content": "hi"}]
READERS = ["thread", "reactor"]


@pytest.fixture
def tls_server() -> Iterator[LoopbackServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT, str(DATA / "loopback-key.pem"))
    with LoopbackServer(ssl_context=context) as server:
        yield server


@pytest.fixture
def trust_cert(monkeypatch: pytest.MonkeyPatch) -> None:
    # How a user points requests at a private CA; Client reads it when built.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", CERT)


def _client(server: LoopbackServer, reader: str, **kw: Any) -> sa.Client:
    return sa.Client(base_url=server.url("openai"), api_key="k", env={}, reader=reader,
                     max_retries=0, **kw)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reader", READERS)
def test_long_stream_over_tls(tls_server: LoopbackServer, trust_cert: None, reader: str) -> None:
    # 3000 tokens: many TLS records per read, and reads that leave decrypted
    # bytes in the SSL layer (the reactor must drain them: no readiness event
    # would ever come for them).
    text = " ".join(f"w{i}" for i in range(3000))
    tls_server.script = Script(text=text)
    assert tls_server.base_url.startswith("https://")
    with _client(tls_server, reader) as client, Collector() as actor:
        result = client.chat("openai/m", MSGS, stream_to=actor).wait(30)
        assert actor.ask(lambda: actor.text).result(10) == text
    assert result.text == text and result.finish_reason == "stop"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reader", READERS)
def test_paced_streams_over_tls_reuse_connections(
    tls_server: LoopbackServer, trust_cert: None, reader: str
) -> None:
    tls_server.script = Script(text="a b c d e f g h", tokens_per_second=200)
    with _client(tls_server, reader) as client, Collector() as actor:
        for _ in range(3):
            handles = [client.chat("openai/m", MSGS, stream_to=actor) for _ in range(5)]
            assert all(h.wait(20).text == "a b c d e f g h" for h in handles)
    assert tls_server.connections_total <= 5  # pooled TLS connections were reused


@pytest.mark.timeout(30)
@pytest.mark.parametrize("reader", READERS)
def test_cancel_a_stalled_tls_stream(tls_server: LoopbackServer, trust_cert: None,
                                     reader: str) -> None:
    tls_server.script = Script(text="one two three four", fault=Fault("stall", after=2))
    with _client(tls_server, reader, timeout=30) as client, Collector() as actor:
        handle = client.chat("openai/m", MSGS, stream_to=actor)
        deadline = time.monotonic() + 10
        while actor.ask(lambda: actor.text).result(5) == "" and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        handle.cancel()
        with pytest.raises(sa.StreamCancelled) as info:
            handle.wait(5)
        assert time.monotonic() - t0 < 1.0
    assert info.value.partial is not None and info.value.partial.text


@pytest.mark.timeout(30)
@pytest.mark.parametrize("reader", READERS)
def test_read_timeout_over_tls(tls_server: LoopbackServer, trust_cert: None,
                               reader: str) -> None:
    tls_server.script = Script(text="one two three four", fault=Fault("stall", after=2))
    with _client(tls_server, reader, timeout=sa.Timeout(connect=5, read=0.6)) as client, \
            Collector() as actor:
        with pytest.raises(sa.ReadTimeout) as info:
            client.chat("openai/m", MSGS, stream_to=actor).wait(15)
    assert info.value.partial is not None and info.value.partial.text


@pytest.mark.timeout(30)
def test_untrusted_certificate_is_a_connection_error(tls_server: LoopbackServer) -> None:
    with _client(tls_server, "thread") as client:
        with pytest.raises(sa.StreamConnectionError) as info:
            client.chat("openai/m", MSGS).wait(10)
    assert "certificate" in str(info.value).lower()


@pytest.mark.timeout(30)
def test_a_verification_failure_is_not_retried(tls_server: LoopbackServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with sa.Client(base_url=tls_server.url("openai"), api_key="k", env={},
                   max_retries=3) as client:
        t0 = time.monotonic()
        with pytest.raises(sa.StreamConnectionError) as info:
            client.chat("openai/m", MSGS).wait(10)
    assert time.monotonic() - t0 < 2.0, "a certificate failure was retried with backoff"
    assert info.value.retryable is False and info.value.retries == 0
    assert "verify=" in str(info.value)
    assert tls_server.connections_total == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("reader", READERS)
def test_verify_takes_a_private_ca_bundle(tls_server: LoopbackServer, reader: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with _client(tls_server, reader, verify=CERT) as client:
        assert client.chat("openai/m", MSGS).wait(10).text == Script().text


@pytest.mark.timeout(30)
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_skips_verification(tls_server: LoopbackServer) -> None:
    with _client(tls_server, "thread", verify=False) as client:
        assert client.chat("openai/m", MSGS).wait(10).text == Script().text


@pytest.mark.timeout(30)
def test_ssl_cert_file_is_honoured(tls_server: LoopbackServer,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", CERT)
    with _client(tls_server, "reactor") as client:
        assert client.chat("openai/m", MSGS).wait(10).text == Script().text
    # trust_env=False: the environment is not read, the system CAs refuse it.
    with _client(tls_server, "reactor", trust_env=False) as client, \
            pytest.raises(sa.StreamConnectionError):
        client.chat("openai/m", MSGS).wait(10)


def test_a_bad_verify_value_is_refused_at_once() -> None:
    with pytest.raises(sa.ConfigurationError, match="CA bundle"):
        sa.Client(verify="/no/such/ca.pem")
    with pytest.raises(sa.ConfigurationError, match="verify"):
        sa.Client(verify=3)  # type: ignore[arg-type]
