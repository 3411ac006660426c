"""The relay keeps a quiet stream alive: ``: keep-alive`` comments while the
upstream is silent, which the official SDK ignores (real sockets: a loopback
upstream that stalls, the relay, raw HTTP and the ``openai`` client)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

import streamactors as sa
from streamactors.cli import main as cli_main
from streamactors.testing import Fault, LoopbackServer, Script

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(30)

MSGS: list[Any] = [{"role": "user", "content": "Hi"}]
STALLING = Script(text="one two three", fault=Fault("stall", after=1, seconds=0.8))


def _relay(upstream: LoopbackServer, **kwargs: Any) -> sa.RelayServer:
    client = sa.Client(base_url=upstream.url("openai"), api_key="sk-up", max_retries=0)
    return sa.RelayServer(model="openai/m", client=client, port=0, **kwargs)


def _raw_lines(relay: sa.RelayServer) -> list[tuple[float, str]]:
    start = time.monotonic()
    with requests.post(relay.url + "/v1/chat/completions", stream=True, timeout=10,
                       json={"model": "m", "messages": MSGS, "stream": True}) as r:
        assert r.status_code == 200
        return [(time.monotonic() - start, line.decode())
                for line in r.iter_lines() if line]


def test_silence_upstream_becomes_keep_alive_comments(loopback_server: LoopbackServer) -> None:
    loopback_server.script = STALLING
    with _relay(loopback_server, keepalive=0.2) as relay:
        lines = _raw_lines(relay)
    comments = [t for t, line in lines if line == ": keep-alive"]
    assert 2 <= len(comments) <= 5, lines  # 0.8 s of silence, one every 0.2 s
    data = [line for _, line in lines if line.startswith("data:")]
    assert data[-1] == "data: [DONE]" and len(data) >= 4
    first_data = next(t for t, line in lines if line.startswith("data:"))
    assert all(t > first_data for t in comments)  # none before the head was sent


def test_the_openai_sdk_reads_through_them(loopback_server: LoopbackServer) -> None:
    loopback_server.script = STALLING
    with _relay(loopback_server, keepalive=0.1) as relay, \
            openai.OpenAI(base_url=relay.url + "/v1", api_key="x", max_retries=0) as sdk:
        text = "".join(c.choices[0].delta.content or "" for c in
                       sdk.chat.completions.create(model="m", messages=MSGS, stream=True)
                       if c.choices)
    assert text == "one two three"


def test_no_comments_when_turned_off(loopback_server: LoopbackServer) -> None:
    loopback_server.script = STALLING
    with _relay(loopback_server, keepalive=None) as relay:
        lines = _raw_lines(relay)
    assert not [line for _, line in lines if line.startswith(":")]


@pytest.mark.parametrize("bad", [0, -1, True, "15", float("inf"), float("nan")])
def test_a_bad_keepalive_is_refused(loopback_server: LoopbackServer, bad: Any) -> None:
    with pytest.raises(sa.ConfigurationError, match="keepalive must be a positive number"):
        _relay(loopback_server, keepalive=bad)


def test_the_command_line_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["relay", "--keepalive", "-1"]) == 2
    assert "expected seconds >= 0" in capsys.readouterr().err


def test_the_overhead_header_is_the_relays_time_over_the_upstreams(
        loopback_server: LoopbackServer) -> None:
    # The upstream sends everything a byte at a time (its head and first event
    # take a few hundred ms); the header counts only the relay's own time.
    loopback_server.script = Script(text="slow", fault=Fault("slow_drip", delay=0.001))
    with _relay(loopback_server) as relay:
        start = time.monotonic()
        with requests.post(relay.url + "/v1/chat/completions", stream=True, timeout=10,
                           json={"model": "m", "messages": MSGS, "stream": True}) as r:
            waited = time.monotonic() - start
            overhead = float(r.headers["x-streamactors-overhead-ms"])
            assert b"[DONE]" in r.content
    assert waited >= 0.2
    assert 0.0 <= overhead < 0.5 * waited * 1000  # its own time, not the upstream's
