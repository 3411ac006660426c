"""Router: named routes, fallbacks before the first chunk only, per-route
concurrency limits, from_env. Everything over real loopback sockets."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import streamactors as sa
from streamactors.router import DEFAULT_MODELS, configured_providers
from streamactors.testing import Fault, LoopbackServer, Script

MSGS = [{"role": "user", "content": "Hello"}]
TEXT = "one two three four five six"


def _routes(server: LoopbackServer, **primary: Any) -> dict[str, dict[str, Any]]:
    return {
        "primary": {"model": "openai/gpt-4o-mini", "base_url": server.url("openai"),
                    "api_key": "sk-primary", "fallbacks": ["backup"], **primary},
        "backup": {"model": "anthropic/claude-haiku-4-5", "base_url": server.url("anthropic"),
                   "api_key": "sk-backup"},
    }


@pytest.fixture
def server(loopback_server: LoopbackServer) -> LoopbackServer:
    loopback_server.script = Script(text=TEXT)
    return loopback_server


@pytest.mark.timeout(15)
def test_route_params_and_overrides_reach_the_request(server: LoopbackServer) -> None:
    with sa.Router(_routes(server, temperature=0.2, max_tokens=50)) as router:
        result = router.chat("primary", MSGS, max_tokens=7).wait(10)
    assert result.text == TEXT and result.route == "primary"
    (req,) = server.requests
    body = req.json()
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-primary"
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("gpt-4o-mini", 0.2, 7)
    assert body["messages"] == MSGS


@pytest.mark.timeout(15)
def test_falls_back_when_the_route_fails_before_any_data(server: LoopbackServer) -> None:
    server.push(Script(fault=Fault("http_error", status=503, message="down")))
    with sa.Router(_routes(server, max_retries=0)) as router:
        handle = router.chat("primary", MSGS)
        result = handle.wait(10)
    assert result.text == TEXT and result.finish_reason == "stop"
    assert result.route == "backup" and handle.route == "backup"
    assert result.provider == "anthropic"
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/messages"]
    assert server.requests[1].headers["x-api-key"] == "sk-backup"


@pytest.mark.timeout(15)
def test_a_route_that_succeeds_never_calls_its_fallback(server: LoopbackServer) -> None:
    with sa.Router(_routes(server, max_retries=0)) as router:
        assert router.chat("primary", MSGS).wait(10).route == "primary"
    assert [r.path for r in server.requests] == ["/v1/chat/completions"]


@pytest.mark.timeout(15)
def test_no_fallback_after_data_was_delivered(server: LoopbackServer) -> None:
    server.push(Script(text=TEXT, fault=Fault("drop", after=3)))
    seen: list[str] = []
    with sa.Router(_routes(server, max_retries=0)) as router:
        handle = router.chat("primary", MSGS)
        for message in handle:
            if isinstance(message, sa.Data) and message.chunk.text:
                seen.append(message.chunk.text)
    assert "".join(seen) == "one two three"
    err = handle.error
    assert isinstance(err, (sa.StreamConnectionError, sa.IncompleteStream))
    assert err.partial is not None and err.partial.text == "one two three"
    assert err.partial.route == "primary"
    assert len(server.requests) == 1, "the fallback must not be called after data"


@pytest.mark.timeout(15)
def test_the_last_fallback_error_is_reported(server: LoopbackServer) -> None:
    fail = Fault("http_error", status=401, message="bad key")
    server.push(Script(fault=fail), Script(fault=fail))
    with sa.Router(_routes(server, max_retries=0)) as router:
        with pytest.raises(sa.AuthenticationError) as ei:
            router.chat("primary", MSGS).wait(10)
    assert ei.value.provider == "anthropic"
    assert len(server.requests) == 2


@pytest.mark.timeout(15)
def test_fallbacks_are_transitive_and_each_route_is_tried_once(server: LoopbackServer) -> None:
    url = server.url("openai")
    routes: dict[str, dict[str, Any]] = {
        "a": {"model": "openai/a", "base_url": url, "api_key": "k", "fallbacks": ["b", "c"]},
        "b": {"model": "openai/b", "base_url": url, "api_key": "k", "fallbacks": ["a", "c"]},
        "c": {"model": "openai/c", "base_url": url, "api_key": "k"},
    }
    down = Fault("http_error", status=500)
    server.push(Script(fault=down), Script(fault=down))
    with sa.Router(routes) as router:
        assert router.chat("a", MSGS, max_retries=0).wait(10).route == "c"
    assert [r.json()["model"] for r in server.requests] == ["a", "b", "c"]


@pytest.mark.timeout(20)
def test_max_concurrent_makes_extra_streams_wait(server: LoopbackServer) -> None:
    server.script = Script(text=" ".join(["w"] * 12), tokens_per_second=120)
    lock = threading.Lock()
    active: set[str] = set()
    peak = 0

    def target(message: sa.Message) -> None:
        nonlocal peak
        with lock:
            if isinstance(message, sa.Data):
                active.add(message.stream.id)
                peak = max(peak, len(active))
            else:
                active.discard(message.stream.id)

    routes = {"one": {"model": "openai/m", "base_url": server.url("openai"), "api_key": "k",
                      "max_concurrent": 1}}
    with sa.Router(routes) as router:
        handles = [router.chat("one", MSGS, stream_to=target) for _ in range(3)]
        waited = False
        deadline = time.monotonic() + 10
        while not all(h.done() for h in handles) and time.monotonic() < deadline:
            waited = waited or any(h.waiting for h in handles)
            time.sleep(0.002)
        results = [h.wait(10) for h in handles]
    assert all(r.text == server.script.text for r in results)
    assert waited, "a stream over the limit should report handle.waiting"
    assert peak == 1, f"{peak} streams of a max_concurrent=1 route ran at once"
    assert not any(h.waiting for h in handles)
    assert len(server.requests) == 3


@pytest.mark.timeout(15)
def test_a_waiting_stream_can_be_cancelled(server: LoopbackServer) -> None:
    server.script = Script(text=" ".join(["w"] * 100), tokens_per_second=100)
    routes = {"one": {"model": "openai/m", "base_url": server.url("openai"), "api_key": "k",
                      "max_concurrent": 1}}
    with sa.Router(routes) as router:
        first = router.chat("one", MSGS)
        second = router.chat("one", MSGS)
        deadline = time.monotonic() + 5
        while not second.waiting and time.monotonic() < deadline:
            time.sleep(0.005)
        assert second.waiting
        second.cancel()
        with pytest.raises(sa.StreamCancelled):
            second.wait(5)
        first.cancel()
        with pytest.raises(sa.StreamCancelled):
            first.wait(5)
    assert len(server.requests) == 1


@pytest.mark.timeout(15)
def test_stream_and_astream(server: LoopbackServer) -> None:
    with sa.Router(_routes(server)) as router:
        it = router.stream("backup", MSGS)
        assert "".join(c.text or "" for c in it) == TEXT
        assert it.result is not None and it.result.route == "backup"

        async def collect() -> str:
            return "".join([c.text or "" async for c in router.astream("primary", MSGS)])

        assert asyncio.run(collect()) == TEXT


def test_bad_configuration_is_reported_before_any_request(server: LoopbackServer) -> None:
    with pytest.raises(sa.ConfigurationError, match="unknown route 'nope'"):
        sa.Router({"a": {"model": "openai/m", "fallbacks": ["nope"]}})
    with pytest.raises(sa.ConfigurationError, match="model"):
        sa.Router({"a": {"temperature": 1}})
    with pytest.raises(sa.ConfigurationError, match="max_concurrent"):
        sa.Router({"a": {"model": "openai/m", "max_concurrent": 0}})
    with sa.Router(_routes(server)) as router:
        assert list(router.routes) == ["primary", "backup"]
        assert router.routes["backup"].model == "anthropic/claude-haiku-4-5"
        assert "sk-primary" not in repr(router.routes["primary"])
        with pytest.raises(sa.ConfigurationError, match="routes: primary, backup"):
            router.chat("nope", MSGS)
        with pytest.raises(sa.ConfigurationError, match="model"):
            router.chat("primary", MSGS, model="openai/other")  # type: ignore[call-arg]
    assert server.requests == []


@pytest.mark.timeout(15)
def test_from_env_makes_one_route_per_configured_provider(server: LoopbackServer) -> None:
    env = {
        "OPENAI_API_KEY": "sk-env",
        "OPENAI_BASE_URL": server.url("openai"),
        "OLLAMA_HOST": server.base_url.removeprefix("http://"),
        "UNRELATED": "x",
    }
    assert configured_providers(env) == ["openai", "ollama"]
    with sa.Router.from_env(env) as router:
        assert list(router.routes) == ["openai", "ollama"]
        assert router.routes["openai"].model == DEFAULT_MODELS["openai"] == "openai/gpt-4o-mini"
        assert router.routes["ollama"].model == "ollama/llama3.1"
        assert router.chat("ollama", MSGS).wait(10).text == TEXT
        assert router.chat("openai", MSGS).wait(10).route == "openai"
    assert [r.path for r in server.requests] == ["/api/chat", "/v1/chat/completions"]
    assert server.requests[1].headers["authorization"] == "Bearer sk-env"


def test_from_env_with_nothing_configured_names_the_variables() -> None:
    with pytest.raises(sa.ConfigurationError) as ei:
        sa.Router.from_env({"PATH": "/bin"})
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY",
                 "OPENROUTER_API_KEY", "OLLAMA_HOST"):
        assert name in str(ei.value)


def test_from_env_covers_every_default_provider() -> None:
    env = {"ANTHROPIC_API_KEY": "a", "GOOGLE_API_KEY": "g", "MISTRAL_API_KEY": "m",
           "OPENROUTER_API_KEY": "o"}
    with sa.Router.from_env(env) as router:
        assert {n: r.model for n, r in router.routes.items()} == {
            "anthropic": "anthropic/claude-haiku-4-5",
            "gemini": "gemini/gemini-2.5-flash",
            "mistral": "mistral/mistral-small-latest",
            "openrouter": "openrouter/openai/gpt-4o-mini",
        }
