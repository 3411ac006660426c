"""The body of an Ollama ``/api/chat`` or ``/api/generate`` request.

Ollama ignores request fields it does not know, so nothing is sent that it
would drop in silence: every field is declared in ``CHAT_FIELDS`` (chat) or
``GENERATE_FIELDS`` (completion). Model options given at the top level
(``temperature``, ``num_ctx``...) go into ``options``; ``max_tokens`` becomes
``options.num_predict``, ``stop`` ``options.stop``, ``response_format``
``format``; Ollama's own fields pass as given; the rest is refused with what
to use instead.

``reasoning_effort`` becomes ``think``, as Ollama's own OpenAI-compatible
endpoint maps it: ``none`` is ``false``; ``low``, ``medium`` and ``high`` are
the levels Ollama takes (models with on/off thinking read any level as on);
``minimal`` is ``low``, the lowest level; ``xhigh`` is ``high``, the highest
level every Ollama server takes (newer ones also take ``think="max"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError
from ._base import RequestInput
from ._fields import (
    PASSED,
    Field,
    FieldTable,
    check_fields,
    implied,
    refused,
    translated,
    without_implied,
)
from ._messages import (
    ROLES,
    content_parts,
    function_tool,
    image_of,
    max_output_tokens,
    parse_tool_choice,
    part_text,
    response_schema,
    stop_sequences,
    text_of,
    tool_call_function,
    tool_names_by_id,
)

__all__ = ["CHAT_FIELDS", "GENERATE_FIELDS", "ollama_body", "ollama_messages"]

_NAME = "ollama"

#: Model options that may be given at the top level; they go into ``options``.
OPTIONS = (
    "temperature", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty",
    "num_ctx", "num_keep", "num_batch", "num_gpu", "main_gpu", "num_thread",
    "repeat_last_n", "repeat_penalty", "min_p", "typical_p", "mirostat", "mirostat_tau",
    "mirostat_eta", "penalize_newline", "numa", "use_mmap", "use_mlock", "num_predict",
)

_THINK = {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high",
          "xhigh": "high"}

_LEAVE_OUT = "Ollama has no such setting; leave it out"

#: Fields both endpoints take, in the same way.
_COMMON: dict[str, Field] = {
    **{name: translated(f"options.{name}") for name in OPTIONS},
    "max_tokens": translated("options.num_predict"),
    "max_completion_tokens": translated("options.num_predict"),
    "stop": translated("options.stop"),
    "response_format": translated("format", "'json', or the JSON schema"),
    "reasoning_effort": translated("think", "none -> false, minimal -> 'low', "
                                            "xhigh -> 'high'"),
    # Ollama's own fields.
    **dict.fromkeys(("think", "keep_alive", "format", "options", "logprobs", "top_logprobs",
                     "truncate", "shift"), PASSED),
    "user": refused("Ollama has no end-user field; leave it out"),
    "safety_identifier": refused("Ollama has no end-user field; leave it out"),
    "metadata": refused("Ollama has no request metadata; leave it out"),
    "store": refused("Ollama does not store chat completions; leave it out"),
    "service_tier": refused(_LEAVE_OUT),
    "logit_bias": refused(_LEAVE_OUT),
    "audio": refused("Ollama answers only in text; leave it out"),
    "modalities": refused("Ollama answers only in text; leave it out"),
    "prediction": refused("Ollama has no predicted outputs; leave it out"),
    "web_search_options": refused("Ollama has no built-in web search; give the model a "
                                  "search tool instead"),
    "verbosity": refused("Ollama has no verbosity setting; ask for a length in the prompt "
                         "or set max_tokens"),
    "prompt_cache_key": refused("Ollama caches the prompt of a loaded model by itself "
                                "(keep_alive keeps it loaded); leave it out"),
    "n": implied(1, "Ollama gives one answer per request; start one stream per answer"),
    "functions": refused("use tools=[{'type': 'function', 'function': {...}}]"),
    "function_call": refused("use tools; Ollama cannot force a function call"),
    "stream_options": refused("Ollama always sends usage (on its last line); leave "
                              "stream_options out"),
}

_GENERATE_ONLY = ("system", "template", "raw", "suffix", "context", "images")
_CHAT_ONLY = ("tools", "tool_choice", "parallel_tool_calls")

#: ``/api/chat`` (``chat()``).
CHAT_FIELDS: FieldTable = {
    **_COMMON,
    "tools": PASSED,
    "tool_choice": translated("tools", "'auto' only: Ollama's one behaviour when it has tools"),
    "parallel_tool_calls": implied(True, "Ollama cannot turn parallel tool calls off"),
    "system": refused("in chat(), give a system message instead; system= is for complete()"),
    "images": refused("in chat(), put image_url parts in a message; images= is for "
                      "complete()"),
    **{name: refused(f"{name}= belongs to /api/generate: use complete()")
       for name in ("template", "raw", "suffix", "context")},
}

#: ``/api/generate`` (``complete()``).
GENERATE_FIELDS: FieldTable = {
    **_COMMON,
    **dict.fromkeys(_GENERATE_ONLY, PASSED),
    **{name: refused("tools need chat() (/api/chat)") for name in _CHAT_ONLY},
}


def _message(message: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    role = message["role"]
    if role in ("system", "developer"):
        return {"role": "system", "content": text_of(message.get("content"), _NAME)}
    if role == "tool":
        out: dict[str, Any] = {"role": "tool", "content": text_of(message.get("content"), _NAME)}
        name = message.get("name")
        cid = message.get("tool_call_id")
        if not isinstance(name, str) and isinstance(cid, str):
            name = names.get(cid)
        if isinstance(name, str):
            out["tool_name"] = name
        return out
    out = {"role": role, **_content(message.get("content"))}
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        out["tool_calls"] = []
        for call in calls if isinstance(calls, Sequence) else ():
            _cid, name, args = tool_call_function(call, _NAME)
            out["tool_calls"].append({"function": {"name": name, "arguments": args}})
    # Anything else on the message (a Gemini signature, Anthropic thinking
    # blocks...) is meant for another provider and is left out.
    return out


def _content(content: Any) -> dict[str, Any]:
    """``content`` (text parts joined) and ``images`` (base64) of a message."""
    texts: list[str] = []
    images: list[str] = []
    for part in content_parts(content, _NAME):
        kind = part.get("type", "text")
        if kind == "text":
            texts.append(part_text(part, _NAME))
        elif kind == "image_url":
            image = image_of(part, _NAME)
            if image.data is None:
                raise ConfigurationError(
                    f"{_NAME} takes images only inline: pass a data: URL, not {image.url!r:.60}"
                )
            images.append(image.data)
        else:
            raise ConfigurationError(f"{_NAME}: content parts of type {kind!r} are not supported")
    out: dict[str, Any] = {"content": "\n".join(texts)}
    if images:
        out["images"] = images
    return out


def ollama_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``/api/chat`` messages from OpenAI-form messages (order kept)."""
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in ROLES:
            raise ConfigurationError(
                f"{_NAME}: message {i} needs a role among {', '.join(sorted(ROLES))}"
            )
    names = tool_names_by_id(messages)
    return [_message(m, names) for m in messages]


def _tools(params: Mapping[str, Any]) -> list[Any] | None:
    """The function tools to send (``tool_choice`` must be ``auto``)."""
    choice = params.get("tool_choice")
    if choice is not None and parse_tool_choice(choice, _NAME).mode != "auto":
        raise ConfigurationError(
            f"{_NAME} supports only tool_choice='auto', got {choice!r}; leave tools out to "
            "stop tool calls"
        )
    tools = params.get("tools")
    if not tools:
        return None
    if not isinstance(tools, Sequence):
        raise ConfigurationError(f"{_NAME}: tools must be a list")
    for tool in tools:
        if function_tool(tool, _NAME) is None:
            raise ConfigurationError(f"{_NAME} takes only function tools, got {tool!r:.80}")
    return list(tools)


def _set(target: dict[str, Any], key: str, value: Any, field: str, where: str) -> None:
    """Set ``target[key]``, refusing a different value already given."""
    if key in target and target[key] != value:
        raise ConfigurationError(
            f"{_NAME}: {field}={value!r:.60} and {where}{key}={target[key]!r:.60} disagree; "
            "give one of them"
        )
    target[key] = value


def _options(params: Mapping[str, Any]) -> dict[str, Any]:
    """``options``: the one given, with the top-level model options added."""
    given = params.get("options", {})
    if not isinstance(given, Mapping):
        raise ConfigurationError(f"{_NAME}: options must be an object, got {given!r:.80}")
    options = dict(given)
    for name in OPTIONS:
        if name in params:
            _set(options, name, params[name], name, "options.")
    limit = max_output_tokens(params, _NAME)
    if limit is not None:
        _set(options, "num_predict", limit, "max_tokens", "options.")
    if "stop" in params:
        _set(options, "stop", stop_sequences(params["stop"], _NAME), "stop", "options.")
    return options


def _translated_fields(params: Mapping[str, Any], body: dict[str, Any]) -> None:
    """``format`` from ``response_format`` and ``think`` from ``reasoning_effort``."""
    schema = response_schema(params.get("response_format", {"type": "text"}), _NAME)
    if schema is not None:
        fmt = dict(schema) if isinstance(schema, Mapping) else "json"
        _set(body, "format", fmt, "response_format", "")
    effort = params.get("reasoning_effort")
    if effort is not None:
        if not isinstance(effort, str) or effort not in _THINK:
            raise ConfigurationError(
                f"{_NAME}: reasoning_effort must be one of {', '.join(map(repr, _THINK))}, "
                f"got {effort!r}"
            )
        _set(body, "think", _THINK[effort], "reasoning_effort", "")


def ollama_body(model: str, request: RequestInput) -> dict[str, Any]:
    """The JSON body for ``request``; ``ConfigurationError`` for a field the
    endpoint cannot take (before any request is made).

    A field given as None counts as not given, and ``parallel_tool_calls=True``
    asks for what Ollama does anyway, so it is left out.
    """
    chat = request.kind != "completion"
    params = {k: v for k, v in sorted(request.params.items()) if v is not None}
    table = CHAT_FIELDS if chat else GENERATE_FIELDS
    # In name order: the same field is named whatever order the fields came in.
    check_fields(_NAME, params, table)
    params = without_implied(params, table)
    body: dict[str, Any] = {"model": model}
    if chat:
        body["messages"] = ollama_messages(request.messages)
        tools = _tools(params)
        if tools is not None:
            body["tools"] = tools
    elif request.prompt is None:
        raise ConfigurationError(f"{_NAME}: a completion request needs a prompt")
    else:
        body["prompt"] = request.prompt
    for key, value in params.items():
        if table[key].action == "passed" and key not in ("options", "tools"):
            body[key] = value
    _translated_fields(params, body)
    options = _options(params)
    if options or "options" in params:
        body["options"] = options
    body["stream"] = True
    return body
