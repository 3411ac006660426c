"""RequestsTransport end to end: connection reuse, error bodies, compressed
bodies, keep-alive expiry, closing. (Its reach-ins into urllib3 are pinned
in test_internals.py; the body framing in tests/wire.)"""

from __future__ import annotations

import time
from typing import Any

import pytest

import streamactors as sa
from streamactors.testing import LoopbackServer, Script

MSGS = [{"role": "user", "content": "hi"}]


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
def test_gzip_body_is_decoded(loopback_server: LoopbackServer) -> None:
    from streamactors.testing import Fault

    loopback_server.push(Script(fault=Fault("gzip")))
    r = sa.chat("openai/m", MSGS, base_url=loopback_server.url("openai"), api_key="k").wait(10)
    assert r.text == Script().text


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
        not_a_dict: Any = ["not", "a", "dict"]  # what the type hints refuse, at run time
        with pytest.raises(sa.ConfigurationError, match="extra_body"):
            client.chat("openai/m", MSGS, extra_body=not_a_dict)


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
