"""Chat Completions requests for openai/, mistral/, openrouter/ and
openai-compatible/: each request field translated, passed or refused as its
server takes it, and the normalized messages of a tool loop made fit for it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from streamactors._chunk import Chunk, ToolCallDelta
from streamactors.accumulate import Accumulator
from streamactors.errors import ConfigurationError
from streamactors.providers import Provider, ProviderConfig, RequestInput, resolve
from streamactors.providers._fields import FieldTable
from streamactors.providers.openai_chat import (
    OpenAIChatProvider,
    compatible,
    mistral,
    openai,
    openrouter,
)

pytestmark = pytest.mark.timeout(10)

CONFIG = ProviderConfig("openai", "m", "http://127.0.0.1:9/v1")
USER = {"role": "user", "content": "What is the weather in Paris?"}


def body(codec: OpenAIChatProvider, messages: Any = (USER,), /, **params: Any) -> dict[str, Any]:
    request = RequestInput("chat", tuple(messages), None, params)
    return dict(codec.build_request(CONFIG, request).body)


# ----------------------------------------------------------------- the four servers


def test_factories_and_registry_agree() -> None:
    for factory, name in ((openai, "openai"), (mistral, "mistral"),
                          (openrouter, "openrouter"), (compatible, "openai-compatible")):
        provider = factory()
        assert isinstance(provider, OpenAIChatProvider) and provider.name == name
        assert provider.framing == "sse"
        registered, _ = resolve(f"{name}/m", base_url="http://127.0.0.1:9/v1", api_key="k")
        assert registered.fields == provider.fields
    typed: Provider = openai()  # mypy checks OpenAIChatProvider against Provider here
    assert typed.fields["temperature"].action == "passed"


def test_openai_refuses_top_k_with_what_to_use() -> None:
    with pytest.raises(ConfigurationError) as info:
        body(openai(), top_k=40)
    assert "'top_k'" in str(info.value) and "top_p" in str(info.value)
    assert "openai" in str(info.value)


def test_unknown_field_points_to_extra_body() -> None:
    for provider in (openai(), mistral(), openrouter(), compatible()):
        with pytest.raises(ConfigurationError, match=r"'temprature'.*extra_body"):
            body(provider, temprature=0.2)


def test_mistral_fields() -> None:
    sent = body(mistral(), seed=7, max_completion_tokens=100, temperature=0.3,
                prompt_mode="reasoning", safe_prompt=True, reasoning_effort="high")
    assert sent["random_seed"] == 7 and "seed" not in sent
    assert sent["max_tokens"] == 100 and "max_completion_tokens" not in sent
    assert (sent["prompt_mode"], sent["safe_prompt"], sent["reasoning_effort"]) == (
        "reasoning", True, "high")
    assert sent["stream_options"] == {"include_usage": True} and sent["stream"] is True


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [("logprobs", True, "log-probabilities"), ("top_logprobs", 2, "'logprobs'"),
     ("user", "u1", "metadata"), ("store", True, "drop it"), ("service_tier", "auto", "tiers"),
     ("top_k", 5, "top_p"),
     ("functions", [], "tools"), ("logit_bias", {"1": 1}, "logit bias"),
     ("audio", {}, "text only"), ("verbosity", "low", "max_tokens")],
)
def test_mistral_refusals_say_what_to_do(field: str, value: Any, hint: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        body(mistral(), **{field: value})
    text = str(info.value)
    assert text.startswith("mistral ") and repr(field) in text and hint in text


def test_mistral_seed_and_random_seed_must_agree() -> None:
    assert body(mistral(), seed=3, random_seed=3)["random_seed"] == 3
    with pytest.raises(ConfigurationError) as info:
        body(mistral(), seed=3, random_seed=4)
    assert "'seed'" in str(info.value) and "'random_seed'" in str(info.value)
    assert "disagree" in str(info.value)


def test_openrouter_reasoning_effort_joins_its_reasoning_object() -> None:
    sent = body(openrouter(), reasoning_effort="low", top_k=20, models=["a/b"],
                provider={"sort": "price"})
    assert sent["reasoning"] == {"effort": "low"} and "reasoning_effort" not in sent
    assert (sent["top_k"], sent["models"], sent["provider"]) == (20, ["a/b"], {"sort": "price"})
    mine = {"max_tokens": 500}
    sent = body(openrouter(), reasoning=mine, reasoning_effort="high")
    assert sent["reasoning"] == {"max_tokens": 500, "effort": "high"}
    assert mine == {"max_tokens": 500}, "the caller's object is never changed"
    with pytest.raises(ConfigurationError, match=r"'reasoning' and 'reasoning_effort' disagree"):
        body(openrouter(), reasoning={"effort": "low"}, reasoning_effort="high")


def test_compatible_takes_the_self_hosted_sampling_fields() -> None:
    sent = body(compatible(), top_k=20, min_p=0.05, repetition_penalty=1.1,
                chat_template_kwargs={"enable_thinking": False})
    assert (sent["top_k"], sent["min_p"], sent["repetition_penalty"]) == (20, 0.05, 1.1)
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}
    assert sent["stream_options"] == {"include_usage": True}


def test_stream_param_is_never_sent_as_given() -> None:
    assert body(openai(), stream=False)["stream"] is True


def test_older_constructor_arguments_still_work() -> None:
    provider = OpenAIChatProvider("my-proxy", rename={"seed": "random_seed"},
                                  unsupported=("user",), include_usage=False)
    sent = body(provider, seed=1, random_seed=1)
    assert sent["random_seed"] == 1 and "seed" not in sent and "stream_options" not in sent
    with pytest.raises(ConfigurationError, match="'user'"):
        body(provider, user="u")
    fields: FieldTable = {"temperature": OpenAIChatProvider().fields["temperature"]}
    narrow = OpenAIChatProvider("openai", fields=fields)
    assert body(narrow, temperature=0)["temperature"] == 0
    with pytest.raises(ConfigurationError, match="'top_p'"):
        body(narrow, top_p=0.5)


# ----------------------------------------------------------------- the messages of a tool loop


def _turn() -> dict[str, Any]:
    """What ``to_message()`` gives after an answer that carried Anthropic
    thinking and Gemini thought signatures (the normalized form)."""
    acc = Accumulator("x", "m")
    acc.add(Chunk(text="Let me check.", tool_calls=(ToolCallDelta(0, "call_1", "weather",
                                                                  '{"city": "Paris"}'),),
                  finish_reason="tool_calls"))
    result = acc.result(continuation={
        "message": {"thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "s"}],
                    "extra_content": {"google": {"thought_signature": "sig-text"}}},
        "tool_calls": {"call_1": {"extra_content": {"google": {"thought_signature": "sig"}}}},
    })
    return result.to_message()


def _conversation() -> list[Mapping[str, Any]]:
    return [USER, _turn(), {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]


@pytest.mark.parametrize("factory", [openai, openrouter], ids=["openai", "openrouter"])
def test_keys_for_other_providers_are_dropped(factory: Any) -> None:
    conversation = _conversation()
    before = json.dumps(conversation)
    sent = body(factory(), conversation)["messages"]
    assert sent[1] == {
        "role": "assistant", "content": "Let me check.",
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}],
    }
    assert sent[0] is conversation[0] and sent[2] is conversation[2]
    assert json.dumps(conversation) == before, "the caller's messages are never changed"


def test_mistral_also_drops_refusal_keeping_it_as_the_content() -> None:
    refused = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    sent = body(mistral(), [USER, refused, _turn()])["messages"]
    assert sent[1] == {"role": "assistant", "content": "I can't help with that."}
    assert "thinking_blocks" not in sent[2] and "extra_content" not in sent[2]
    assert "extra_content" not in sent[2]["tool_calls"][0]
    assert refused["refusal"] == "I can't help with that."


def test_openai_keeps_refusal() -> None:
    refused = {"role": "assistant", "content": None, "refusal": "No."}
    assert body(openai(), [USER, refused])["messages"][1] is refused


def test_compatible_sends_messages_as_given() -> None:
    # It may be Gemini's OpenAI-compatible endpoint, which reads extra_content.
    conversation = _conversation()
    sent = body(compatible(), conversation)["messages"]
    assert all(a is b for a, b in zip(sent, conversation, strict=True))
    assert sent[1]["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "sig"}}


def test_clean_messages_are_not_copied() -> None:
    conversation = [USER, {"role": "assistant", "content": "Hi", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]
    sent = body(openai(), conversation)["messages"]
    assert all(a is b for a, b in zip(sent, conversation, strict=True))
