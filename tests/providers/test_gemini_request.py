"""Gemini request fields: what each OpenAI field becomes, what is refused and
why, and Gemini's own fields beside the translated ones."""

from __future__ import annotations

from typing import Any

import pytest

from streamactors.errors import ConfigurationError
from streamactors.providers._base import ProviderConfig, RequestInput, Secret
from streamactors.providers.gemini import GeminiProvider
from streamactors.providers.gemini_request import FIELDS, thinking_for

pytestmark = pytest.mark.timeout(10)

P = GeminiProvider()
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}


def body_of(model: str = "gemini-2.5-flash", **params: Any) -> dict[str, Any]:
    messages = params.pop("messages", [{"role": "user", "content": "hi"}])
    config = ProviderConfig("gemini", model, "https://generativelanguage.googleapis.com",
                            Secret("k"))
    return dict(P.build_request(config, RequestInput(messages=messages, params=params)).body)


def refusal(**params: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        body_of(**params)
    return str(caught.value)


def test_the_codec_declares_its_table() -> None:
    assert P.fields is FIELDS
    assert FIELDS["temperature"].to == "generationConfig.temperature"
    assert FIELDS["safetySettings"].action == "passed"
    assert FIELDS["user"].action == "refused"


@pytest.mark.parametrize(
    ("field", "value", "instead"),
    [
        ("user", "u1", "leave it out"),
        ("safety_identifier", "u1", "leave it out"),
        ("metadata", {"a": "b"}, "leave it out"),
        ("store", True, "leave it out"),
        ("service_tier", "flex", "leave it out"),
        ("logit_bias", {"1": 2}, "leave it out"),
        ("audio", {"voice": "alloy"}, "leave it out"),
        ("prediction", {"type": "content", "content": "x"}, "leave it out"),
        ("web_search_options", {}, "tools=[{'googleSearch': {}}]"),
        ("verbosity", "low", "max_tokens"),
        ("prompt_cache_key", "k", "cachedContent="),
        ("parallel_tool_calls", False, "cannot turn parallel function calls off"),
        ("functions", [WEATHER["function"]], "tools=[{'type': 'function'"),
        ("function_call", "auto", "use tool_choice"),
        ("stream_options", {"include_usage": True}, "always sends usage"),
    ],
)
def test_openai_only_fields_are_refused_with_what_to_do(field: str, value: Any,
                                                        instead: str) -> None:
    text = refusal(**{field: value})
    assert f"'{field}'" in text and "gemini" in text and instead in text


def test_an_unknown_field_points_to_extra_body() -> None:
    text = refusal(temprature=0.2)
    assert "'temprature'" in text and "extra_body" in text


def test_refusals_name_the_same_field_whatever_the_order() -> None:
    assert "'function_call'" in refusal(functions=[WEATHER["function"]], function_call="auto")
    assert "'function_call'" in refusal(function_call="auto", functions=[WEATHER["function"]])


def test_none_means_not_given_and_parallel_calls_true_is_what_gemini_does() -> None:
    assert body_of(user=None, temperature=None, parallel_tool_calls=True, tools=[WEATHER]) == \
        body_of(tools=[WEATHER])


def test_logprobs() -> None:
    assert body_of(logprobs=True, top_logprobs=3)["generationConfig"] == {
        "responseLogprobs": True, "logprobs": 3}
    assert body_of(logprobs=False)["generationConfig"] == {"responseLogprobs": False}
    assert "needs logprobs=True" in refusal(top_logprobs=3)


def test_modalities() -> None:
    assert body_of(modalities=["text"])["generationConfig"] == {"responseModalities": ["TEXT"]}
    assert "only 'text'" in refusal(modalities=["text", "audio"])
    assert "must be a list" in refusal(modalities="text")


@pytest.mark.parametrize(
    ("effort", "budget"),
    [("none", 0), ("minimal", 512), ("low", 1024), ("medium", 8192), ("high", 24576),
     ("xhigh", 24576)],
)
@pytest.mark.parametrize("model", ["gemini-2.5-flash", "models/gemini-2.5-pro",
                                   "gemini-flash-latest", "learnlm-2.0-flash"])
def test_reasoning_effort_is_a_thinking_budget_before_gemini_3(model: str, effort: str,
                                                               budget: int) -> None:
    assert body_of(model, reasoning_effort=effort)["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": budget}}


@pytest.mark.parametrize(
    ("effort", "level"),
    [("minimal", "minimal"), ("low", "low"), ("medium", "medium"), ("high", "high"),
     ("xhigh", "high")],
)
@pytest.mark.parametrize("model", ["gemini-3-pro-preview", "gemini-3.1-flash-lite",
                                   "models/gemini-3-flash", "gemini-10-ultra"])
def test_reasoning_effort_is_a_thinking_level_from_gemini_3(model: str, effort: str,
                                                            level: str) -> None:
    assert body_of(model, reasoning_effort=effort)["generationConfig"] == {
        "thinkingConfig": {"thinkingLevel": level}}


def test_gemini_3_cannot_turn_thinking_off() -> None:
    text = refusal(model="gemini-3-pro-preview", reasoning_effort="none")
    assert "'minimal'" in text and "gemini-3-pro-preview" in text
    assert thinking_for("none", "gemini-2.5-flash-lite") == {"thinkingBudget": 0}


@pytest.mark.parametrize("effort", ["max", "LOW", 3, ""])
def test_unknown_reasoning_effort_is_refused(effort: Any) -> None:
    assert "reasoning_effort must be one of" in refusal(reasoning_effort=effort)


def test_reasoning_effort_joins_a_native_thinking_config() -> None:
    body = body_of(reasoning_effort="low", thinkingConfig={"includeThoughts": True})
    assert body["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}
    body = body_of(reasoning_effort="high",
                   generationConfig={"thinkingConfig": {"includeThoughts": True}})
    assert body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True,
                                                          "thinkingBudget": 24576}
    assert "give one" in refusal(reasoning_effort="low",
                                 thinkingConfig={"thinkingBudget": 99})
    assert "give one" in refusal(model="gemini-3-flash", reasoning_effort="low",
                                 thinkingConfig={"thinkingLevel": "high"})
    assert "give one" in refusal(thinkingConfig={},
                                 generationConfig={"thinkingConfig": {}})
    assert "must be an object" in refusal(thinkingConfig=["x"])


def test_native_generation_config_conflicts_are_refused() -> None:
    text = refusal(temperature=0.5, generationConfig={"temperature": 0.2})
    assert "temperature=0.5" in text and "generationConfig.temperature=0.2" in text
    assert "disagree" in refusal(max_tokens=5, generationConfig={"maxOutputTokens": 6})
    # the same value twice is no conflict
    assert body_of(temperature=0.2, generationConfig={"temperature": 0.2})[
        "generationConfig"] == {"temperature": 0.2}
    assert "must be an object" in refusal(generationConfig="fast")
    # a native generationConfig passes as given, even empty
    assert body_of(generationConfig={})["generationConfig"] == {}


def test_tool_config_and_tool_choice() -> None:
    native = {"functionCallingConfig": {"mode": "ANY"}}
    assert body_of(tools=[WEATHER], toolConfig=native)["toolConfig"] == native
    retrieval = {"retrievalConfig": {"latLng": {"latitude": 1, "longitude": 2}}}
    assert body_of(tools=[WEATHER], tool_choice="none", toolConfig=retrieval)["toolConfig"] == {
        **retrieval, "functionCallingConfig": {"mode": "NONE"}}
    assert "give one" in refusal(tools=[WEATHER], tool_choice="auto", toolConfig=native)


def test_system_instruction_and_other_native_fields() -> None:
    instruction = {"parts": [{"text": "Be brief."}]}
    body = body_of(systemInstruction=instruction, cachedContent="cachedContents/c1",
                   safetySettings=[])
    assert (body["systemInstruction"], body["cachedContent"], body["safetySettings"]) == (
        instruction, "cachedContents/c1", [])
    text = refusal(systemInstruction=instruction,
                   messages=[{"role": "system", "content": "Be kind."},
                             {"role": "user", "content": "hi"}])
    assert "systemInstruction" in text and "give one" in text
