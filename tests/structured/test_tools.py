"""``tools=`` given as Pydantic models and functions: what is sent, the
validated arguments at the end, and the partial arguments on the way (a real
loopback server)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel

import streamactors as sa
from streamactors.testing import LoopbackServer, Script, ToolCallSpec

pytestmark = pytest.mark.timeout(30)

MSGS = [{"role": "user", "content": "Weather and time in Paris?"}]


class Weather(BaseModel):
    """The forecast for a city."""

    city: str
    days: int = 1


def get_time(city: str, utc: bool = False) -> str:
    """The local time in a city."""
    return f"12:00 in {city}{' UTC' if utc else ''}"


CALLS = [ToolCallSpec("Weather", '{"city": "Paris", "days": 3}', id="call_1"),
         ToolCallSpec("get_time", '{"city": "Paris"}', id="call_2")]


@pytest.fixture
def server(loopback_server: LoopbackServer) -> LoopbackServer:
    loopback_server.script = Script(text="", tokens=[], tool_calls=CALLS, tokens_per_second=400)
    return loopback_server


def client(server: LoopbackServer) -> sa.Client:
    return sa.Client(base_url=server.url("openai"), api_key="sk-test", max_retries=0)


def test_models_and_functions_are_sent_as_function_tools(server: LoopbackServer) -> None:
    plain = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    client(server).chat("openai/gpt-4o-mini", MSGS,
                        tools=[Weather, get_time, plain]).wait(10)
    weather, clock, passed = server.requests[-1].json()["tools"]
    assert weather["function"]["name"] == "Weather"
    assert weather["function"]["description"] == "The forecast for a city."
    assert weather["function"]["parameters"]["required"] == ["city"]
    assert clock["function"]["name"] == "get_time"
    assert clock["function"]["description"] == "The local time in a city."
    assert set(clock["function"]["parameters"]["properties"]) == {"city", "utc"}
    assert passed == plain


def test_parsed_arguments_are_validated_by_the_tools_model_or_signature(
        server: LoopbackServer) -> None:
    result = client(server).chat("openai/gpt-4o-mini", MSGS, tools=[Weather, get_time]).wait(10)
    weather, clock = result.tool_calls
    assert weather.parsed_arguments() == Weather(city="Paris", days=3)
    assert clock.parsed_arguments() == {"city": "Paris", "utc": False}  # defaults filled in
    assert get_time(**clock.parsed_arguments()) == "12:00 in Paris"
    # still the same calls as a result without the models
    assert weather == sa.ToolCall(index=0, id="call_1", name="Weather",
                                  arguments='{"city": "Paris", "days": 3}')


def test_arguments_that_do_not_match_raise_output_validation_error(
        server: LoopbackServer) -> None:
    server.script = Script(text="", tokens=[], tool_calls=[
        ToolCallSpec("Weather", '{"days": "many"}'), ToolCallSpec("get_time", '{"town": 1}')])
    result = client(server).chat("openai/gpt-4o-mini", MSGS, tools=[Weather, get_time]).wait(10)
    for call in result.tool_calls:
        with pytest.raises(sa.OutputValidationError) as info:
            call.parsed_arguments()
        assert info.value.errors and isinstance(info.value, ValueError)
    assert {tuple(e["loc"]) for e in info.value.errors or []} >= {("town",), ("city",)}


def test_partials_include_each_tool_calls_growing_arguments(server: LoopbackServer) -> None:
    s = client(server).stream("openai/gpt-4o-mini", MSGS, tools=[Weather, get_time])
    seen = [copy.deepcopy(p) for p in s.partials()]
    assert all(isinstance(p, sa.PartialToolCall) for p in seen)
    weather = [p for p in seen if p.index == 0]
    clock = [p for p in seen if p.index == 1]
    assert weather[-1] == sa.PartialToolCall(0, "call_1", "Weather", Weather(city="Paris", days=3))
    assert isinstance(weather[0].arguments, Weather)  # shaped like the model from the start
    assert clock[-1].name == "get_time" and clock[-1].arguments.city == "Paris"


def test_partials_of_tools_given_as_dicts_are_json_values(server: LoopbackServer) -> None:
    tools = [{"type": "function", "function": {"name": n, "parameters": {}}}
             for n in ("Weather", "get_time")]
    s = client(server).stream("openai/gpt-4o-mini", MSGS, tools=tools)
    last = {p.index: p.arguments for p in s.partials()}
    assert last == {0: {"city": "Paris", "days": 3}, 1: {"city": "Paris"}}


class Planner(sa.StreamingClient):
    def on_start(self) -> None:
        self.seen: list[Any] = []

    def handle_partial(self, partial: Any, stream: sa.StreamHandle) -> None:
        self.seen.append(copy.deepcopy(partial))


def test_handle_partial_gets_the_tool_calls_too(server: LoopbackServer) -> None:
    planner = Planner().start()
    try:
        client(server).chat("openai/gpt-4o-mini", MSGS, tools=[Weather],
                            stream_to=planner).wait(10)
    finally:
        planner.stop()
        planner.join(5)
    last = {p.index: p.arguments for p in planner.seen}
    assert last[0] == Weather(city="Paris", days=3)
    assert last[1] == {"city": "Paris"}  # get_time was not given as a function here


def _star(*names: str) -> None:
    pass


@pytest.mark.parametrize(("tools", "says"), [
    (Weather, "tools must be a list"),
    ([Weather, Weather], "two tools are named 'Weather'"),
    ([_star], "cannot be given by name"),
    ([42], "a Pydantic model class or a function"),
    ([lambda city: city], "rename it"),
])
def test_bad_tools_are_refused_before_any_request(server: LoopbackServer, tools: Any,
                                                  says: str) -> None:
    before = len(server.requests)
    with pytest.raises(sa.ConfigurationError, match=says):
        client(server).chat("openai/gpt-4o-mini", MSGS, tools=tools)
    assert len(server.requests) == before
