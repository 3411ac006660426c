"""Ollama request fields: the chat and generate tables, what each OpenAI field
becomes, what is refused and why."""

from __future__ import annotations

from typing import Any

import pytest

from streamactors.accumulate import Accumulator
from streamactors.errors import ConfigurationError
from streamactors.providers._base import ProviderConfig, RequestInput
from streamactors.providers.ollama import OllamaGenerateProvider, OllamaProvider
from streamactors.providers.ollama_request import CHAT_FIELDS, GENERATE_FIELDS, OPTIONS

from ._replay import ndjson_lines, recorded

pytestmark = pytest.mark.timeout(10)

P = OllamaProvider()
CONFIG = ProviderConfig("ollama", "qwen3", "http://localhost:11434")
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


def chat_body(**params: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hi"}]
    return dict(P.build_request(CONFIG, RequestInput(messages=messages, params=params)).body)


def generate_body(**params: Any) -> dict[str, Any]:
    request = RequestInput(kind="completion", prompt="Once", params=params)
    return dict(OllamaGenerateProvider().build_request(CONFIG, request).body)


def refusal(kind: str = "chat", **params: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        chat_body(**params) if kind == "chat" else generate_body(**params)
    return str(caught.value)


def test_each_endpoint_declares_its_table() -> None:
    assert P.fields is CHAT_FIELDS and OllamaGenerateProvider().fields is GENERATE_FIELDS
    assert CHAT_FIELDS["tools"].action == "passed"
    assert GENERATE_FIELDS["tools"].action == "refused"
    assert CHAT_FIELDS["system"].action == "refused"
    assert GENERATE_FIELDS["system"].action == "passed"
    assert all(CHAT_FIELDS[o].to == f"options.{o}" for o in OPTIONS)


def test_either_provider_builds_either_kind_with_its_endpoints_table() -> None:
    # the request's kind picks the table, whichever instance builds it
    request = RequestInput(kind="completion", prompt="Once", params={"system": "S"})
    assert P.build_request(CONFIG, request).url.endswith("/api/generate")
    chat = RequestInput(messages=[{"role": "user", "content": "hi"}], params={"system": "S"})
    with pytest.raises(ConfigurationError, match="give a system message"):
        OllamaGenerateProvider().build_request(CONFIG, chat)


@pytest.mark.parametrize(
    ("field", "value", "instead"),
    [
        ("user", "u1", "leave it out"),
        ("safety_identifier", "u1", "leave it out"),
        ("metadata", {"a": "b"}, "leave it out"),
        ("store", True, "leave it out"),
        ("service_tier", "auto", "leave it out"),
        ("logit_bias", {"1": 1}, "leave it out"),
        ("audio", {"voice": "alloy"}, "only in text"),
        ("modalities", ["text"], "only in text"),
        ("prediction", {"type": "content", "content": "x"}, "leave it out"),
        ("web_search_options", {}, "search tool"),
        ("verbosity", "low", "max_tokens"),
        ("prompt_cache_key", "k", "keep_alive"),
        ("n", 2, "one stream per answer"),
        ("functions", [WEATHER["function"]], "tools=[{'type': 'function'"),
        ("function_call", "auto", "use tools"),
        ("stream_options", {"include_usage": True}, "always sends usage"),
        ("parallel_tool_calls", False, "cannot turn parallel tool calls off"),
        ("template", "{{ .Prompt }}", "use complete()"),
        ("raw", True, "use complete()"),
        ("suffix", "x", "use complete()"),
        ("context", [1], "use complete()"),
        ("images", ["AA=="], "image_url parts"),
    ],
)
def test_chat_refuses_with_what_to_do(field: str, value: Any, instead: str) -> None:
    text = refusal(**{field: value})
    assert f"'{field}'" in text and "ollama" in text and instead in text


@pytest.mark.parametrize("field", ["tools", "tool_choice", "parallel_tool_calls"])
def test_generate_refuses_tool_fields(field: str) -> None:
    assert "need chat()" in refusal("completion", **{field: [WEATHER] if field == "tools"
                                                     else "auto"})


def test_generate_only_fields_pass_on_generate() -> None:
    body = generate_body(system="S", template="T", raw=True, suffix="!", context=[1, 2],
                         images=["AA=="], think=False, keep_alive=0, truncate=True,
                         shift=False, logprobs=True, top_logprobs=2)
    assert {k: body[k] for k in ("system", "template", "raw", "suffix", "context", "images",
                                 "think", "keep_alive", "truncate", "shift", "logprobs",
                                 "top_logprobs")} == {
        "system": "S", "template": "T", "raw": True, "suffix": "!", "context": [1, 2],
        "images": ["AA=="], "think": False, "keep_alive": 0, "truncate": True, "shift": False,
        "logprobs": True, "top_logprobs": 2}


def test_logprobs_pass_on_chat() -> None:
    body = chat_body(logprobs=True, top_logprobs=3)
    assert (body["logprobs"], body["top_logprobs"]) == (True, 3)


@pytest.mark.parametrize(("effort", "think"), [
    ("none", False), ("minimal", "low"), ("low", "low"), ("medium", "medium"),
    ("high", "high"), ("xhigh", "high")])
def test_reasoning_effort_becomes_think(effort: str, think: Any) -> None:
    assert chat_body(reasoning_effort=effort)["think"] == think
    assert generate_body(reasoning_effort=effort)["think"] == think


def test_reasoning_effort_and_think_must_agree() -> None:
    assert chat_body(reasoning_effort="high", think="high")["think"] == "high"
    assert "disagree" in refusal(reasoning_effort="low", think=True)
    assert "must be one of" in refusal(reasoning_effort="max")


def test_options_conflicts_are_refused() -> None:
    text = refusal(temperature=0.5, options={"temperature": 0.2})
    assert "temperature=0.5" in text and "options.temperature=0.2" in text
    assert "disagree" in refusal(max_tokens=5, num_predict=6)
    assert "disagree" in refusal(stop="A", options={"stop": ["B"]})
    assert chat_body(temperature=0.2, options={"temperature": 0.2})["options"] == {
        "temperature": 0.2}
    assert "must be an object" in refusal(options=[1])
    # a native options object passes as given, even empty
    assert chat_body(options={})["options"] == {}


def test_format_and_response_format_must_agree() -> None:
    assert chat_body(format="json", response_format={"type": "json_object"})["format"] == "json"
    assert "disagree" in refusal(format={"type": "object"},
                                 response_format={"type": "json_object"})


def test_tool_choice_auto_is_ollamas_behaviour() -> None:
    assert chat_body(tools=[WEATHER], tool_choice="auto")["tools"] == [WEATHER]
    assert "tools" not in chat_body(tool_choice="auto")
    assert "leave tools out" in refusal(tools=[WEATHER], tool_choice="none")


def test_none_means_not_given() -> None:
    assert chat_body(user=None, n=None, temperature=None, think=None) == chat_body()


def test_refusals_name_the_same_field_whatever_the_order() -> None:
    assert "'function_call'" in refusal(functions=[WEATHER["function"]], function_call="auto")
    assert "'function_call'" in refusal(function_call="auto", functions=[WEATHER["function"]])


def test_a_tool_loop_turn_round_trips_and_foreign_keys_are_dropped() -> None:
    decoder = P.new_decoder(RequestInput())
    acc = Accumulator()
    for _, data in ndjson_lines(recorded("ollama/02_chat_tool_call.ndjson")):
        for chunk in decoder.feed(data):
            acc.add(chunk)
    message = acc.result(continuation=dict(decoder.continuation())).to_message()
    message["thinking_blocks"] = [{"type": "thinking", "thinking": "hmm", "signature": "s"}]
    message["extra_content"] = {"google": {"thought_signature": "c2ln"}}
    convo = [{"role": "user", "content": "date?"}, message,
             {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "Fri"}]
    body = P.build_request(CONFIG, RequestInput(messages=convo)).body
    assert body["messages"][1:] == [
        {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "system", "arguments": {"command": "date"}}}]},
        {"role": "tool", "content": "Fri", "tool_name": "system"}]
