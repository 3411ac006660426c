"""The Anthropic codec's request fields: each one translated into the Messages
API's form, passed as it is, or refused before any request (§3)."""

from __future__ import annotations

from typing import Any

import pytest

from streamactors.errors import ConfigurationError
from streamactors.providers._base import ProviderConfig, RequestInput
from streamactors.providers.anthropic import AnthropicProvider
from streamactors.providers.anthropic_request import DEFAULT_MAX_TOKENS, EFFORT_BUDGETS, FIELDS

pytestmark = pytest.mark.timeout(10)

P = AnthropicProvider()
CONFIG = ProviderConfig("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com")
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def body_of(**params: Any) -> dict[str, Any]:
    request = RequestInput(messages=[{"role": "user", "content": "hi"}], params=params)
    return dict(P.build_request(CONFIG, request).body)


def refusal(**params: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        body_of(**params)
    return str(caught.value)


def test_the_provider_declares_its_table() -> None:
    assert P.fields is FIELDS
    assert {name for name, rule in FIELDS.items() if rule.action == "translated"} == {
        "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice",
        "parallel_tool_calls", "user", "safety_identifier", "reasoning_effort",
        "response_format"}


# --- reasoning_effort -> thinking ---------------------------------------------------------

@pytest.mark.parametrize(("effort", "budget"), [("minimal", 1024), ("low", 1024),
                                                ("medium", 4096), ("high", 16384),
                                                ("xhigh", 32768)])
def test_reasoning_effort_becomes_a_thinking_budget(effort: str, budget: int) -> None:
    body = body_of(reasoning_effort=effort)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert "reasoning_effort" not in body
    # max_tokens left out: the default leaves room above the budget
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS + budget
    assert EFFORT_BUDGETS[effort] == budget


def test_reasoning_effort_none_disables_thinking() -> None:
    body = body_of(reasoning_effort="none")
    assert body["thinking"] == {"type": "disabled"}
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS


def test_reasoning_effort_with_max_tokens_above_the_budget() -> None:
    body = body_of(reasoning_effort="medium", max_completion_tokens=5000)
    assert (body["max_tokens"], body["thinking"]["budget_tokens"]) == (5000, 4096)


@pytest.mark.parametrize("params", [
    {"reasoning_effort": "high", "max_tokens": 16384},
    {"reasoning_effort": "low", "max_tokens": 77},
    {"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 1000},
])
def test_max_tokens_at_or_under_the_budget_is_refused(params: dict[str, Any]) -> None:
    text = refusal(**params)
    assert "max_tokens" in text and "thinking budget" in text and "anthropic" in text


def test_reasoning_effort_refusals() -> None:
    text = refusal(reasoning_effort="extreme")
    assert "reasoning_effort" in text and "'extreme'" in text and "medium" in text
    assert "reasoning_effort" in refusal(reasoning_effort=["high"])
    both = refusal(reasoning_effort="low", thinking={"type": "enabled", "budget_tokens": 1024})
    assert "reasoning_effort" in both and "thinking" in both


# --- user / safety_identifier / metadata ---------------------------------------------------

def test_user_and_safety_identifier_become_metadata_user_id() -> None:
    assert body_of(user="u-1")["metadata"] == {"user_id": "u-1"}
    assert body_of(safety_identifier="h-2")["metadata"] == {"user_id": "h-2"}
    body = body_of(user="u-1", safety_identifier="u-1", metadata={"user_id": "u-1"})
    assert body["metadata"] == {"user_id": "u-1"}
    assert "user" not in body and "safety_identifier" not in body
    assert body_of(metadata={"user_id": "m"})["metadata"] == {"user_id": "m"}


def test_user_ids_that_disagree_are_refused() -> None:
    text = refusal(user="a", safety_identifier="b")
    assert "user" in text and "safety_identifier" in text and "metadata.user_id" in text
    assert "metadata.user_id" in refusal(user="a", metadata={"user_id": "b"})
    assert "must be a string" in refusal(user=42)


def test_metadata_takes_only_user_id() -> None:
    text = refusal(metadata={"user_id": "u", "purpose": "test"})
    assert "'purpose'" in text and "user_id" in text and "anthropic" in text
    assert "metadata must be an object" in refusal(metadata=["user_id"])


# --- tools --------------------------------------------------------------------------------

def test_parallel_tool_calls_must_be_a_boolean() -> None:
    assert "parallel_tool_calls" in refusal(tools=[WEATHER], parallel_tool_calls="no")
    body = body_of(tools=[WEATHER], tool_choice="none", parallel_tool_calls=False)
    assert body["tool_choice"] == {"type": "none"}  # the API refuses the flag on "none"


# --- other translated and passed fields ----------------------------------------------------

def test_stop_and_stop_sequences() -> None:
    assert body_of(stop_sequences=["a"])["stop_sequences"] == ["a"]
    assert "stop_sequences" in refusal(stop="a", stop_sequences=["b"])


def test_service_tier_takes_anthropic_values_only() -> None:
    assert body_of(service_tier="standard_only")["service_tier"] == "standard_only"
    text = refusal(service_tier="flex")
    assert "service_tier" in text and "standard_only" in text


NATIVE = {
    "top_k": 5,
    "cache_control": {"type": "ephemeral"},
    "container": "container_1",
    "inference_geo": "us",
    "output_config": {"effort": "low"},
    "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "x"}],
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
}


def test_native_fields_are_passed_as_given() -> None:
    body = body_of(**NATIVE)
    assert {k: body[k] for k in NATIVE} == NATIVE


# --- refused and unknown fields ------------------------------------------------------------

REFUSED = {
    "frequency_penalty": 0.5, "presence_penalty": 0.5, "seed": 1, "logprobs": True,
    "top_logprobs": 2, "logit_bias": {"1": 2}, "audio": {}, "modalities": ["text"],
    "prediction": {}, "store": True, "web_search_options": {}, "verbosity": "low",
    "prompt_cache_key": "k",
    "functions": [], "function_call": "auto", "stream_options": {"include_usage": True},
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_openai_only_fields_are_refused_with_what_to_use(name: str) -> None:
    text = refusal(**{name: REFUSED[name]})
    assert f"anthropic cannot take the request field {name!r}" in text
    assert FIELDS[name].action == "refused" and FIELDS[name].note in text


def test_refusal_hints() -> None:
    assert "web_search" in refusal(web_search_options={})
    assert "cache_control" in refusal(prompt_cache_key="k")
    # response_format is translated now: a forced tool (tests/structured)
    assert "extended thinking" in refusal(response_format={"type": "json_object"},
                                          reasoning_effort="low")
    assert "tools" in refusal(functions=[WEATHER["function"]])


def test_every_refused_field_is_named_at_once() -> None:
    text = refusal(logprobs=True, top_logprobs=2, temprature=0.2)
    assert "'logprobs'" in text and "'top_logprobs'" in text and "'temprature'" in text
    assert "extra_body" in text


def test_unknown_field_points_to_extra_body() -> None:
    text = refusal(temprature=0.1)
    assert "'temprature'" in text and "extra_body" in text and "anthropic" in text


@pytest.mark.parametrize("n", [2, 0, True, "1"])
def test_n_other_than_one_is_refused(n: Any) -> None:
    text = refusal(n=n)
    assert "'n'" in text and "one answer" in text


def test_n_one_and_stream_are_dropped() -> None:
    body = body_of(n=1, stream=True)
    assert "n" not in body and body["stream"] is True
