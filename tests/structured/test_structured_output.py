"""``response_format=`` a model: what is sent to each provider, the partial
values of ``partials()``, ``result.parsed``, and the typed end of an answer
that is not the model (a real loopback server, every format it speaks)."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from pydantic import BaseModel, Field

import streamactors as sa
from streamactors.testing import LoopbackServer, Script, ToolCallSpec
from streamactors.transport.fake import FakeTransport, Reply

from .._data import RECORDED

pytestmark = pytest.mark.timeout(30)

MSGS = [{"role": "user", "content": "A pasta recipe, as JSON"}]


class Step(BaseModel):
    text: str
    minutes: int | None = None


class Recipe(BaseModel):
    title: str
    steps: list[Step]
    tags: list[str] = []
    serves: int = Field(default=2, description="how many people")


ANSWER: dict[str, Any] = {"title": "Pasta al limone", "steps": [{"text": "Boil the pasta", "minutes": 9},
                                                 {"text": "Zest the lemon", "minutes": None}],
          "tags": ["quick"], "serves": 4}
TEXT = json.dumps(ANSWER)


def script(text: str = TEXT, **kw: Any) -> Script:
    return Script(text=text, tokens=[text[i:i + 7] for i in range(0, len(text), 7)], **kw)


@pytest.fixture
def server(loopback_server: LoopbackServer) -> LoopbackServer:
    # Paced: each delta is its own delivery, so each makes a partial value.
    loopback_server.script = script(tokens_per_second=400)
    return loopback_server


def client(server: LoopbackServer, provider: str = "openai") -> sa.Client:
    return sa.Client(base_url=server.url(provider), api_key="sk-test", max_retries=0)


def test_a_model_is_sent_as_openais_strict_json_schema(server: LoopbackServer) -> None:
    result = client(server).chat("openai/gpt-4o-mini", MSGS, response_format=Recipe).wait(10)
    fmt = server.requests[-1].json()["response_format"]
    assert fmt["type"] == "json_schema"
    spec = fmt["json_schema"]
    assert spec["name"] == "Recipe" and spec["strict"] is True
    schema = spec["schema"]
    # strict: every object closed, every property required, no defaults
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["title", "steps", "tags", "serves"]
    assert schema["$defs"]["Step"]["required"] == ["text", "minutes"]
    assert schema["$defs"]["Step"]["additionalProperties"] is False
    assert "default" not in json.dumps(schema)
    assert schema["properties"]["serves"]["description"] == "how many people"
    assert isinstance(result.parsed, Recipe) and result.parsed == Recipe.model_validate(ANSWER)


def test_partials_grow_and_the_end_is_validated(server: LoopbackServer) -> None:
    s = client(server).stream("openai/gpt-4o-mini", MSGS, response_format=Recipe)
    seen = [copy.deepcopy(p) for p in s.partials()]
    assert all(isinstance(p, Recipe) for p in seen)
    titles = [p.title for p in seen if p.title is not None]
    assert titles[0] != titles[-1] and all(titles[-1].startswith(t) for t in titles)
    assert seen[0].steps is None  # not seen yet: None, not a validation error
    assert seen[-1].steps is not None and isinstance(seen[-1].steps[0], Step)
    assert s.result is not None and s.result.parsed == Recipe.model_validate(ANSWER)
    assert s.result.text == TEXT


def test_partials_without_a_model_are_json_values(server: LoopbackServer) -> None:
    s = client(server).stream("openai/gpt-4o-mini", MSGS)
    values = [copy.deepcopy(v) for v in s.partials()]
    assert values[-1] == ANSWER and values[0] == {}
    assert s.result is not None and s.result.parsed is None  # nothing was asked for


def test_a_consumer_that_falls_behind_gets_one_value_per_step(
        server: LoopbackServer) -> None:
    server.script = script()  # unpaced: deltas arrive together
    s = client(server).stream("openai/gpt-4o-mini", MSGS, response_format=Recipe)
    time.sleep(0.3)  # the whole answer is delivered meanwhile
    values = list(s.partials())
    assert len(values) == 1 and values[0] == Recipe.model_validate(ANSWER)
    assert s.result is not None and s.result.chunks > 20


def test_text_that_is_not_json_ends_with_output_validation_error(
        server: LoopbackServer) -> None:
    server.script = script('{"title": "Pasta", "steps": [oops]}')
    h = client(server).chat("openai/gpt-4o-mini", MSGS, response_format=Recipe)
    with pytest.raises(sa.OutputValidationError) as info:
        h.wait(10)
    err = info.value
    assert err.offset == '{"title": "Pasta", "steps": ['.__len__()
    assert err.value == {"title": "Pasta", "steps": []}
    assert err.partial is not None and err.partial.text == '{"title": "Pasta", "steps": [oops]}'
    assert err.partial.finish_reason == "stop"
    assert isinstance(err, sa.StreamError) and "not valid JSON" in str(err)


def test_a_cut_answer_keeps_everything_it_had(server: LoopbackServer) -> None:
    server.script = script(TEXT[:40], finish_reason="length")
    s = client(server).stream("openai/gpt-4o-mini", MSGS, response_format=Recipe)
    seen = []
    with pytest.raises(sa.OutputValidationError) as info:
        for p in s.partials():
            seen.append(copy.deepcopy(p))
    err = info.value
    assert err.offset == 40 and err.partial is not None
    assert err.partial.finish_reason == "length" and err.partial.text == TEXT[:40]
    assert err.value == {"title": "Pasta al limone", "steps": [{}]}  # as far as it went
    assert seen[-1].title == "Pasta al limone"


def test_json_that_is_not_the_model_names_the_fields(server: LoopbackServer) -> None:
    server.script = script('{"title": 3, "steps": [{"minutes": 2}]}')
    with pytest.raises(sa.OutputValidationError) as info:
        client(server).chat("openai/gpt-4o-mini", MSGS, response_format=Recipe).wait(10)
    err = info.value
    assert err.offset is None and err.errors is not None
    locs = {tuple(e["loc"]) for e in err.errors}
    assert ("title",) in locs and ("steps", 0, "text") in locs
    assert "title:" in str(err) and "steps.0.text:" in str(err)
    assert err.value == {"title": 3, "steps": [{"minutes": 2}]}


def test_a_refusal_is_not_a_validation_error() -> None:
    # OpenAI's recorded refusal: it ends with Finish, its refusal text set
    fake = FakeTransport(Reply.recorded(RECORDED / "openai-chat" / "04_refusal.sse"))
    with sa.Client(transport=fake, api_key="sk-fake", base_url="https://llm.test/v1") as c:
        result = c.chat("openai/gpt-4o", MSGS, response_format=Recipe).wait(10)
    assert result.refusal and result.refusal.startswith("I'm sorry")
    assert result.parsed is None and result.text == ""


def test_a_tool_call_answer_is_not_a_validation_error(server: LoopbackServer) -> None:
    server.script = Script(text="", tokens=[], tool_calls=[ToolCallSpec("lookup", '{"q": "x"}')])
    result = client(server).chat("openai/gpt-4o-mini", MSGS, response_format=Recipe).wait(10)
    assert result.tool_calls and result.parsed is None


@pytest.mark.parametrize("fmt", [
    {"name": "recipe", "schema": Recipe.model_json_schema()},
    Recipe.model_json_schema(),  # has a "title": its name
])
def test_a_schema_dict_gives_the_json_value(server: LoopbackServer, fmt: dict[str, Any]) -> None:
    result = client(server).chat("openai/gpt-4o-mini", MSGS, response_format=fmt).wait(10)
    sent = server.requests[-1].json()["response_format"]["json_schema"]
    assert sent["strict"] is True and sent["schema"]["additionalProperties"] is False
    assert result.parsed == ANSWER


def test_openais_own_form_is_passed_on_untouched_and_not_parsed(
        server: LoopbackServer) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    result = client(server).chat("openai/gpt-4o-mini", MSGS, response_format=fmt).wait(10)
    assert server.requests[-1].json()["response_format"] == fmt
    assert result.parsed is None and result.text == TEXT


@pytest.mark.parametrize("fmt", [{"schema": {}}, {"type": "object"}, 42, str, "json"])
def test_a_response_format_of_no_known_form_is_refused_before_any_request(
        server: LoopbackServer, fmt: Any) -> None:
    before = len(server.requests)
    with pytest.raises(sa.ConfigurationError, match="response_format must be a Pydantic model"):
        client(server).chat("openai/gpt-4o-mini", MSGS, response_format=fmt)
    assert len(server.requests) == before


@pytest.mark.parametrize(("provider", "api", "where"), [
    ("gemini", None, ("generationConfig", "responseJsonSchema")),
    ("ollama", None, ("format",)),
    ("openai", "responses", ("text", "format", "schema")),
    ("mistral", None, ("response_format", "json_schema", "schema")),
])
def test_every_translating_provider_gets_the_schema_and_the_model_back(
        server: LoopbackServer, provider: str, api: str | None, where: tuple[str, ...]) -> None:
    c = client(server, "openai" if provider == "mistral" else provider)
    if provider == "ollama":
        c = sa.Client(base_url=server.base_url, max_retries=0)
    result = c.chat(f"{provider}/some-model", MSGS, response_format=Recipe, api=api).wait(10)
    sent: Any = server.requests[-1].json()
    for key in where:
        sent = sent[key]
    assert sent["additionalProperties"] is False and "steps" in sent["properties"]
    assert result.parsed == Recipe.model_validate(ANSWER)


def test_anthropic_gets_a_forced_tool_and_the_answer_comes_back_as_text(
        server: LoopbackServer) -> None:
    server.script = Script(text="", tokens=[], tool_calls=[ToolCallSpec("Recipe", TEXT)],
                           tokens_per_second=400)
    c = client(server, "anthropic")
    s = c.stream("anthropic/claude-haiku-4-5", MSGS, response_format=Recipe)
    seen = [copy.deepcopy(p) for p in s.partials()]
    body = server.requests[-1].json()
    (tool,) = body["tools"]
    assert tool["name"] == "Recipe" and tool["input_schema"]["required"][:2] == ["title", "steps"]
    assert body["tool_choice"] == {"type": "tool", "name": "Recipe"}
    assert "response_format" not in body
    result = s.result
    assert result is not None and result.parsed == Recipe.model_validate(ANSWER)
    assert result.text == TEXT and not result.tool_calls and result.finish_reason == "stop"
    assert len(seen) >= 2 and seen[-1] == Recipe.model_validate(ANSWER)


def test_anthropic_json_object_is_any_object_in_the_text(server: LoopbackServer) -> None:
    server.script = Script(text="", tokens=[], tool_calls=[ToolCallSpec("json_object", TEXT)])
    result = client(server, "anthropic").chat(
        "anthropic/claude-haiku-4-5", MSGS, response_format={"type": "json_object"}).wait(10)
    body = server.requests[-1].json()
    assert body["tools"][0]["input_schema"] == {"type": "object"}
    assert json.loads(result.text) == ANSWER and result.parsed is None


@pytest.mark.parametrize(("extra", "named"), [
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"reasoning_effort": "low"}, "extended thinking"),
])
def test_anthropic_refuses_what_a_forced_tool_cannot_be_given_with(
        server: LoopbackServer, extra: dict[str, Any], named: str) -> None:
    before = len(server.requests)
    with pytest.raises(sa.ConfigurationError, match=named):
        client(server, "anthropic").chat("anthropic/claude-haiku-4-5", MSGS,
                                         response_format=Recipe, **extra)
    assert len(server.requests) == before


class Cook(sa.StreamingClient):
    def on_start(self) -> None:
        self.partials: list[Any] = []
        self.threads: set[str] = set()
        self.parsed: list[Any] = []

    def handle_partial(self, partial: Any, stream: sa.StreamHandle) -> None:
        import threading

        self.threads.add(threading.current_thread().name)
        self.partials.append(copy.deepcopy(partial))

    def handle_finish(self, result: sa.StreamResult, stream: sa.StreamHandle) -> None:
        self.parsed.append(result.parsed)


def test_a_streaming_client_gets_handle_partial_on_its_own_thread(
        server: LoopbackServer) -> None:
    cook = Cook(name="cook").start()
    try:
        client(server).chat("openai/gpt-4o-mini", MSGS, response_format=Recipe,
                            stream_to=cook).wait(10)
    finally:
        cook.stop()
        cook.join(5)
    assert cook.threads == {"cook"}
    assert cook.partials and all(isinstance(p, Recipe) for p in cook.partials)
    assert cook.partials[-1] == Recipe.model_validate(ANSWER)
    assert cook.parsed == [Recipe.model_validate(ANSWER)]


def test_a_streaming_client_without_handle_partial_parses_nothing(
        server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamactors import _partials

    def refuse(self: Any, spec: Any) -> None:
        raise AssertionError("a partial answer was built for an actor that does not want it")

    monkeypatch.setattr(_partials.PartialOutput, "__init__", refuse)

    class Plain(sa.StreamingClient):
        pass

    plain = Plain().start()
    try:
        result = client(server).chat("openai/gpt-4o-mini", MSGS, response_format=Recipe,
                                     stream_to=plain).wait(10)
    finally:
        plain.stop()
        plain.join(5)
    assert result.parsed == Recipe.model_validate(ANSWER)


def test_astream_partials(server: LoopbackServer) -> None:
    import asyncio

    async def main() -> tuple[list[Any], Any]:
        it = client(server).astream("openai/gpt-4o-mini", MSGS, response_format=Recipe)
        seen = [copy.deepcopy(p) async for p in it.partials()]
        assert it.handle is not None and it.handle.result is not None
        return seen, it.handle.result.parsed

    seen, parsed = asyncio.run(main())
    assert len(seen) > 3 and all(isinstance(p, Recipe) for p in seen)
    assert parsed == Recipe.model_validate(ANSWER) == seen[-1]


def test_leaving_partials_early_cancels_the_stream(server: LoopbackServer) -> None:
    server.script = script(tokens_per_second=50)
    s = client(server).stream("openai/gpt-4o-mini", MSGS, response_format=Recipe)
    for _ in s.partials():
        break
    assert s.handle._done.wait(5)  # at once, in fact: the loop's end cancelled it
    assert isinstance(s.handle.error, sa.StreamCancelled)


def test_a_router_route_with_a_model_and_its_fallback(server: LoopbackServer) -> None:
    from streamactors.testing import Fault

    server.push(Script(fault=Fault("http_error", status=529, message="overloaded")))
    router = sa.Router({
        "primary": {"model": "anthropic/claude-haiku-4-5", "fallbacks": ["backup"],
                    "base_url": server.url("anthropic"), "api_key": "k", "max_retries": 0,
                    "response_format": Recipe},
        "backup": {"model": "openai/gpt-4o-mini", "base_url": server.url("openai"),
                   "api_key": "k", "response_format": Recipe},
    })
    try:
        result = router.chat("primary", MSGS).wait(10)
    finally:
        router.close()
    assert result.route == "backup" and result.parsed == Recipe.model_validate(ANSWER)
    sent = server.requests[-1].json()["response_format"]["json_schema"]
    assert sent["name"] == "Recipe" and sent["strict"] is True


def test_complete_with_a_model_on_ollama_generate(server: LoopbackServer) -> None:
    c = sa.Client(base_url=server.base_url, max_retries=0)
    result = c.complete("ollama/llama3", "A recipe as JSON", response_format=Recipe).wait(10)
    request = server.requests[-1]
    assert request.path == "/api/generate"
    assert request.json()["format"]["properties"]["title"] == {"title": "Title", "type": "string"}
    assert result.parsed == Recipe.model_validate(ANSWER)


def test_complete_on_openais_legacy_completions_refuses_it(server: LoopbackServer) -> None:
    with pytest.raises(sa.ConfigurationError, match="response_format"):
        client(server).complete("openai/gpt-3.5-turbo-instruct", "JSON", response_format=Recipe)
