"""OpenAI-form conversations translated for Anthropic, Gemini and Ollama, and the
shared readers in ``providers._messages``."""

from __future__ import annotations

from typing import Any

import pytest

from streamactors.errors import ConfigurationError
from streamactors.providers._base import RequestInput
from streamactors.providers._messages import (
    ImageRef,
    ToolChoice,
    check_n,
    content_parts,
    dumps_arguments,
    function_tool,
    image_of,
    max_output_tokens,
    parse_arguments,
    parse_tool_choice,
    request_messages,
    response_schema,
    stop_sequences,
    system_text,
    text_of,
    tool_names_by_id,
)
from streamactors.providers.anthropic import anthropic_messages
from streamactors.providers.gemini import gemini_contents
from streamactors.providers.ollama import ollama_messages

pytestmark = pytest.mark.timeout(10)

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
DATA_URL = f"data:image/png;base64,{PNG}"
HTTP_URL = "https://example.com/cat.jpg"

#: A conversation with every feature: system prompts, images, parallel tool
#: calls, their results, and a follow-up question.
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [
        {"type": "text", "text": "What is this, and the weather in Paris and Rome?"},
        {"type": "image_url", "image_url": {"url": DATA_URL}},
    ]},
    {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_a", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_b", "type": "function",
         "function": {"name": "get_time", "arguments": '{"city": "Rome"}'}},
    ]},
    {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
    {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
    {"role": "user", "content": "Thanks. Warmer tomorrow?"},
]


# --- shared readers -----------------------------------------------------------------------

def test_content_parts_and_text() -> None:
    assert content_parts(None, "p") == []
    assert content_parts("", "p") == []
    assert content_parts("hi", "p") == [{"type": "text", "text": "hi"}]
    assert content_parts(["a", {"type": "text", "text": "b"}], "p") == [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert text_of([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "p") == "a\nb"
    assert text_of("x", "p") == "x" and text_of(None, "p") == ""
    with pytest.raises(ConfigurationError):
        content_parts(42, "p")
    with pytest.raises(ConfigurationError):
        content_parts([3], "p")
    with pytest.raises(ConfigurationError):
        text_of([{"type": "image_url", "image_url": {"url": HTTP_URL}}], "p")
    with pytest.raises(ConfigurationError):
        text_of([{"type": "text", "text": None}], "p")


def test_system_text_joins_system_and_developer() -> None:
    system, rest = system_text([*CONVERSATION, {"role": "developer", "content": "Be kind."}], "p")
    assert system == "You are terse.\n\nBe kind."
    assert [m["role"] for m in rest] == ["user", "assistant", "tool", "tool", "user"]
    assert system_text([{"role": "user", "content": "x"}], "p")[0] is None
    with pytest.raises(ConfigurationError, match="function"):
        system_text([{"role": "function", "content": "x"}], "p")
    with pytest.raises(ConfigurationError):
        system_text(["not a message"], "p")  # type: ignore[list-item]


def test_images() -> None:
    assert image_of({"type": "image_url", "image_url": {"url": DATA_URL}}, "p") == ImageRef(
        None, "image/png", PNG)
    assert image_of({"type": "image_url", "image_url": HTTP_URL}, "p") == ImageRef(
        HTTP_URL, None, None)
    for bad in ("data:image/png,rawbytes", "data:image/png;base64,", "ftp://x/y.png", ""):
        with pytest.raises(ConfigurationError):
            image_of({"type": "image_url", "image_url": {"url": bad}}, "p")


def test_arguments() -> None:
    assert parse_arguments('{"a": 1}', "p") == {"a": 1}
    assert parse_arguments("", "p") == {} and parse_arguments(None, "p") == {}
    assert parse_arguments({"b": 2}, "p") == {"b": 2}
    for bad in ('{"a": ', "[1]", "3", 3):
        with pytest.raises(ConfigurationError):
            parse_arguments(bad, "p")
    assert dumps_arguments({"k": "é"}) == '{"k": "é"}'
    assert dumps_arguments('{"already": "text"}') == '{"already": "text"}'
    assert dumps_arguments(None) == "{}"


def test_tool_readers() -> None:
    assert tool_names_by_id(CONVERSATION) == {"call_a": "get_weather", "call_b": "get_time"}
    fn = function_tool({"type": "function", "function": {"name": "f", "parameters": {}}}, "p")
    assert fn is not None and (fn.name, fn.description, fn.parameters) == ("f", None, {})
    assert function_tool({"googleSearch": {}}, "p") is None
    with pytest.raises(ConfigurationError):
        function_tool({"type": "function", "function": {"name": "f", "parameters": "x"}}, "p")
    with pytest.raises(ConfigurationError):
        function_tool("f", "p")


@pytest.mark.parametrize(
    ("choice", "parsed"),
    [("auto", ToolChoice("auto")), ("none", ToolChoice("none")),
     ("required", ToolChoice("required")),
     ({"type": "function", "function": {"name": "f"}}, ToolChoice("function", "f"))],
)
def test_tool_choice(choice: Any, parsed: ToolChoice) -> None:
    assert parse_tool_choice(choice, "p") == parsed


@pytest.mark.parametrize("choice", ["any", {"type": "function"}, {"type": "tool", "name": "f"}, 1])
def test_bad_tool_choice(choice: Any) -> None:
    with pytest.raises(ConfigurationError):
        parse_tool_choice(choice, "p")


def test_stop_and_max_tokens() -> None:
    assert stop_sequences("x", "p") == ["x"]
    assert stop_sequences(("a", "b"), "p") == ["a", "b"]
    with pytest.raises(ConfigurationError):
        stop_sequences(["a", 1], "p")
    assert max_output_tokens({}, "p") is None
    assert max_output_tokens({"max_tokens": 5}, "p") == 5
    assert max_output_tokens({"max_completion_tokens": 6}, "p") == 6
    for bad in ({"max_tokens": True}, {"max_tokens": "5"}, {"max_tokens": -1},
                {"max_tokens": 1, "max_completion_tokens": 2}):
        with pytest.raises(ConfigurationError):
            max_output_tokens(bad, "p")


def test_request_messages_and_n() -> None:
    chat = RequestInput(messages=[{"role": "user", "content": "a"}])
    assert request_messages(chat, "p") == [{"role": "user", "content": "a"}]
    assert request_messages(RequestInput(kind="completion", prompt="b"), "p") == [
        {"role": "user", "content": "b"}]
    with pytest.raises(ConfigurationError):
        request_messages(RequestInput(kind="completion"), "p")
    check_n({}, "p")
    check_n({"n": 1}, "p")
    with pytest.raises(ConfigurationError, match="n > 1"):
        check_n({"n": 3}, "p")


def test_response_schema() -> None:
    schema = {"type": "object"}
    assert response_schema({"type": "text"}, "p") is None
    assert response_schema({"type": "json_object"}, "p") is True
    assert response_schema({"type": "json_schema", "json_schema": {"schema": schema}}, "p") == (
        schema)
    for bad in ({"type": "json_schema"}, {"type": "json_schema", "json_schema": {}}, "json",
                {"type": "yaml"}):
        with pytest.raises(ConfigurationError):
            response_schema(bad, "p")


# --- Anthropic ----------------------------------------------------------------------------

def test_anthropic_conversation() -> None:
    system, messages = anthropic_messages(CONVERSATION)
    assert system == "You are terse."
    assert messages == [
        {"role": "user", "content": [
            {"type": "text", "text": "What is this, and the weather in Paris and Rome?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG}},
        ]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_a", "name": "get_weather",
             "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {"city": "Rome"}},
        ]},
        # both tool results and the next question merged into one user turn, results first
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_a", "content": '{"temp": 21}'},
            {"type": "tool_result", "tool_use_id": "call_b", "content": "12:00"},
            {"type": "text", "text": "Thanks. Warmer tomorrow?"},
        ]},
    ]


def test_anthropic_parts() -> None:
    _, messages = anthropic_messages([
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": HTTP_URL}},
            {"type": "text", "text": "long doc", "cache_control": {"type": "ephemeral"}},
            {"type": "document", "source": {"type": "text", "data": "d",
                                            "media_type": "text/plain"}},
        ]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "ok"}]},
    ])
    assert messages[0]["content"][0] == {"type": "image",
                                         "source": {"type": "url", "url": HTTP_URL}}
    assert messages[0]["content"][1]["cache_control"] == {"type": "ephemeral"}
    assert messages[0]["content"][2]["type"] == "document"
    assert messages[1]["content"] == [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]
    assert messages[2]["content"] == [{"type": "tool_result", "tool_use_id": "t1",
                                       "content": [{"type": "text", "text": "ok"}]}]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "tool", "content": "no id"}],
        [{"role": "assistant", "tool_calls": [{"id": "t", "function": {"name": "f",
                                                                       "arguments": "{bad"}}]}],
        [{"role": "assistant", "tool_calls": [{"id": "t", "function": {"arguments": "{}"}}]}],
        [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
        [{"role": "system", "content": [{"type": "image_url", "image_url": HTTP_URL}]}],
        [{"role": "narrator", "content": "x"}],
    ],
)
def test_anthropic_refuses(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(ConfigurationError):
        anthropic_messages(messages)


# --- Gemini -------------------------------------------------------------------------------

def test_gemini_conversation() -> None:
    instruction, contents = gemini_contents(CONVERSATION)
    assert instruction == {"parts": [{"text": "You are terse."}]}
    assert contents == [
        {"role": "user", "parts": [
            {"text": "What is this, and the weather in Paris and Rome?"},
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
        ]},
        {"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {"city": "Rome"}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
            {"text": "Thanks. Warmer tomorrow?"},
        ]},
    ]


def test_gemini_parts_and_signatures() -> None:
    instruction, contents = gemini_contents([
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": HTTP_URL}}]},
        {"role": "assistant", "tool_calls": [{
            "id": "x", "function": {"name": "f", "arguments": "{}"},
            "extra_content": {"google": {"thought_signature": "c2ln"}}}]},
        {"role": "tool", "tool_call_id": "unknown-id", "name": "f", "content": "[1, 2]"},
    ])
    assert instruction is None
    assert contents[0]["parts"] == [{"fileData": {"fileUri": HTTP_URL, "mimeType": "image/jpeg"}}]
    assert contents[1]["parts"] == [{"functionCall": {"name": "f", "args": {}},
                                     "thoughtSignature": "c2ln"}]
    # the name given on the tool message is enough; a JSON list is not an object
    assert contents[2]["parts"] == [{"functionResponse": {"name": "f",
                                                          "response": {"result": "[1, 2]"}}}]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "tool", "tool_call_id": "nobody", "content": "x"}],
        [{"role": "user", "content": [{"type": "file", "file": {}}]}],
        [{"role": "user", "content": [{"type": "text"}]}],
        [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[]"}}]}],
    ],
)
def test_gemini_refuses(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(ConfigurationError):
        gemini_contents(messages)


# --- Ollama -------------------------------------------------------------------------------

def test_ollama_conversation() -> None:
    messages = ollama_messages([*CONVERSATION, {"role": "developer", "content": "Be kind."}])
    assert messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is this, and the weather in Paris and Rome?",
         "images": [PNG]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "get_time", "arguments": {"city": "Rome"}}},
        ]},
        {"role": "tool", "content": '{"temp": 21}', "tool_name": "get_weather"},
        {"role": "tool", "content": "12:00", "tool_name": "get_time"},
        {"role": "user", "content": "Thanks. Warmer tomorrow?"},
        {"role": "system", "content": "Be kind."},
    ]


def test_ollama_tool_message_without_a_known_name() -> None:
    assert ollama_messages([{"role": "tool", "tool_call_id": "zz", "content": "ok"}]) == [
        {"role": "tool", "content": "ok"}]
    assert ollama_messages([{"role": "tool", "name": "f", "content": "ok"}]) == [
        {"role": "tool", "content": "ok", "tool_name": "f"}]


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": HTTP_URL}}]}],
        [{"role": "user", "content": [{"type": "input_audio"}]}],
        [{"role": "user", "content": [{"type": "text", "text": 5}]}],
        [{"role": "critic", "content": "x"}],
        [{"content": "no role"}],
    ],
)
def test_ollama_refuses(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(ConfigurationError):
        ollama_messages(messages)
