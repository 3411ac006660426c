"""A route's options mean what a call's mean: ``timeout: None`` is no time
limit, a timeout or retries left out are the client's; a call's own replace
the route's; what the route fixes cannot be given per call."""

from __future__ import annotations

from typing import Any

import pytest

import streamactors as sa
from streamactors._options import NO_TIMEOUT
from streamactors.testing import Fault, LoopbackServer, Script

MSGS = [{"role": "user", "content": "Hello"}]


def _route(server: LoopbackServer, **more: object) -> dict[str, dict[str, object]]:
    return {"r": {"model": "openai/m", "base_url": server.url("openai"), "api_key": "k",
                  **more}}


def test_route_timeout_none_is_no_limit_and_absent_is_the_clients(
        loopback_server: LoopbackServer) -> None:
    with sa.Router(_route(loopback_server, timeout=None, max_retries=0)) as router:
        assert router.routes["r"].timeout is NO_TIMEOUT
        assert router.routes["r"].max_retries == 0
    with sa.Router(_route(loopback_server)) as router:
        assert router.routes["r"].timeout is sa.NOT_GIVEN
        assert router.routes["r"].max_retries is sa.NOT_GIVEN
    with sa.Router(_route(loopback_server, timeout=2)) as router:
        assert router.routes["r"].timeout == sa.Timeout(2)
    with pytest.raises(sa.ConfigurationError, match=r"max_retries .* got None; leave it out"):
        sa.Router(_route(loopback_server, max_retries=None))
    with pytest.raises(sa.ConfigurationError, match="timeout must be"):
        sa.Router(_route(loopback_server, timeout="soon"))


@pytest.mark.timeout(20)
def test_timeouts_of_client_route_and_call(loopback_server: LoopbackServer) -> None:
    stalls = Script(text="one two three", fault=Fault("stall", after=1, seconds=0.6))
    with sa.Client(timeout=0.2, max_retries=0) as client:
        with sa.Router(_route(loopback_server), client=client) as router:
            loopback_server.push(stalls)
            with pytest.raises(sa.ReadTimeout):  # no timeout anywhere: the client's
                router.chat("r", MSGS).wait(10)
            loopback_server.push(stalls)
            assert router.chat("r", MSGS, timeout=None).wait(10).text == "one two three"
        with sa.Router(_route(loopback_server, timeout=None), client=client) as router:
            loopback_server.push(stalls)
            assert router.chat("r", MSGS).wait(10).text == "one two three"
            loopback_server.push(stalls)
            with pytest.raises(sa.ReadTimeout):  # the call's own over the route's
                list(router.stream("r", MSGS, timeout=0.2))


@pytest.mark.timeout(20)
def test_openrouters_route_field_beside_the_route_name(loopback_server: LoopbackServer) -> None:
    """``route`` is positional-only on the router, so OpenRouter's own
    ``route`` request field can be given as a keyword."""
    routes = {"or": {"model": "openrouter/openai/gpt-4o-mini",
                     "base_url": loopback_server.url("openrouter"), "api_key": "k"}}
    with sa.Router(routes) as router:
        router.chat("or", MSGS, route="fallback", models=["a/b"]).wait(10)
    body = loopback_server.requests[-1].json()
    assert (body["route"], body["models"]) == ("fallback", ["a/b"])


def test_what_the_route_fixes_is_refused_per_call(loopback_server: LoopbackServer) -> None:
    with sa.Router(_route(loopback_server)) as router:
        for name in ("base_url", "api_key", "api", "model"):
            given: dict[str, Any] = {name: "x"}  # not a keyword of router.chat
            with pytest.raises(sa.ConfigurationError, match=f"{name} cannot be overridden"):
                router.chat("r", MSGS, **given)
        with pytest.raises(sa.ConfigurationError, match="drop stream_to"):
            router.stream("r", MSGS, stream_to=print)  # type: ignore[call-arg]
        with pytest.raises(sa.ConfigurationError, match=r"'temprature'.*extra_body"):
            router.astream("r", MSGS, temprature=1)  # type: ignore[call-arg]
    assert loopback_server.requests == []
