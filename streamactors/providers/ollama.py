"""Ollama: ``POST {base}/api/chat`` (chat) and ``/api/generate`` (completion).

The body is NDJSON: one JSON object per line, the last with ``"done": true``.
Tool calls arrive whole (arguments as an object), one or several per line, in
lines of their own: each becomes one complete ``ToolCallDelta`` numbered
across the stream. Inline ``<think>`` tags of models run without ``think``
stay in the text, as the server sent them.

Ollama ignores request fields it does not know, so a parameter this codec
cannot place is refused with a ``ConfigurationError`` instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._chunk import Chunk, ToolCallDelta, Usage
from ..errors import ConfigurationError, HTTPStatusError, ProviderError
from ._base import (
    Framing,
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    Secret,
    build_status_error,
    decode_error_body,
    event_object,
    reject_params,
)
from ._messages import (
    OPENAI_ONLY,
    ROLES,
    check_n,
    content_parts,
    dumps_arguments,
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

__all__ = ["OllamaDecoder", "OllamaProvider", "ollama_messages", "ollama_usage"]

_NAME = "ollama"

_FINISH = {"stop": "stop", "length": "length", "load": "other", "unload": "other"}

#: Parameters that go into ``options`` under the same name.
_OPTIONS = frozenset(
    {
        "temperature", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty",
        "num_ctx", "num_keep", "num_batch", "num_gpu", "main_gpu", "num_thread",
        "repeat_last_n", "repeat_penalty", "min_p", "typical_p", "mirostat", "mirostat_tau",
        "mirostat_eta", "penalize_newline", "numa", "use_mmap", "use_mlock", "num_predict",
    }
)
#: Top-level fields passed through, per endpoint.
_CHAT_FIELDS = frozenset({"think", "keep_alive", "format"})
_GENERATE_FIELDS = _CHAT_FIELDS | {"system", "template", "raw", "suffix", "context", "images"}
_IGNORED = ("stream", "stream_options", "max_tokens", "max_completion_tokens", "stop",
            "response_format", "tool_choice", "parallel_tool_calls", "n", "options", "tools")

#: Counts and durations of the final line kept as the usage's ``raw``.
_USAGE_KEYS = ("prompt_eval_count", "eval_count", "total_duration", "load_duration",
               "prompt_eval_duration", "eval_duration")



def ollama_usage(obj: Mapping[str, Any]) -> Usage | None:
    """A ``Usage`` from the final line (``prompt_eval_count`` is omitted when 0),
    or None when the line carries no counts at all."""
    prompt = obj.get("prompt_eval_count")
    completion = obj.get("eval_count")
    if type(prompt) is not int and type(completion) is not int:
        return None
    prompt = prompt if type(prompt) is int else 0
    completion = completion if type(completion) is int else 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        raw={k: obj[k] for k in _USAGE_KEYS if k in obj},
    )


class OllamaDecoder:
    """Decodes the NDJSON lines of one ``/api/chat`` or ``/api/generate`` stream."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls = 0

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        obj = event_object(data, _NAME)
        if "error" in obj:
            raise self._error(obj["error"], data)
        message = obj.get("message")
        calls: tuple[ToolCallDelta, ...] = ()
        if type(message) is dict:
            text = message.get("content") or None
            reasoning = message.get("thinking") or None
            tcs = message.get("tool_calls")
            if tcs:
                calls = self._tool_calls(tcs)
        else:
            text = obj.get("response") or None
            reasoning = obj.get("thinking") or None
        if obj.get("done"):
            native = obj.get("done_reason") or "stop"
            finish = _FINISH.get(native, "other")
            if finish == "stop" and self._calls:
                finish = "tool_calls"
            return [Chunk(text, reasoning, calls, finish, native, ollama_usage(obj), 0, obj,
                          None, None, obj.get("model"))]
        if text is None and reasoning is None and not calls:
            return []
        return [Chunk(text, reasoning, calls, None, None, None, 0, obj, None, None,
                      obj.get("model"))]

    def _tool_calls(self, tcs: Any) -> tuple[ToolCallDelta, ...]:
        out: list[ToolCallDelta] = []
        for call in tcs if type(tcs) is list else ():
            if type(call) is not dict:
                continue
            fn = call.get("function")
            if type(fn) is not dict:
                continue
            # Appended in arrival order; the server's ``function.index`` is
            # per-response and absent on the first call, so it is not used.
            k = self._calls
            self._calls += 1
            cid = call.get("id")
            out.append(ToolCallDelta(
                k,
                cid if cid and type(cid) is str else f"call_{k}",
                fn.get("name"),
                dumps_arguments(fn.get("arguments")),
            ))
        return tuple(out)

    @staticmethod
    def _error(err: Any, data: str) -> ProviderError:
        message = err.get("message") if isinstance(err, dict) else err
        message = message if isinstance(message, str) else str(message)
        return ProviderError(
            f"{_NAME} reported an error mid-stream: {message}",
            provider_message=message,
            body=data,
            provider=_NAME,
        )


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
    texts: list[str] = []
    images: list[str] = []
    for part in content_parts(message.get("content"), _NAME):
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
    out = {"role": role, "content": "\n".join(texts)}
    if images:
        out["images"] = images
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        out["tool_calls"] = []
        for call in calls if isinstance(calls, Sequence) else ():
            _cid, name, args = tool_call_function(call, _NAME)
            out["tool_calls"].append({"function": {"name": name, "arguments": args}})
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


def _check_tools(tools: Any) -> list[Any]:
    if not isinstance(tools, Sequence):
        raise ConfigurationError(f"{_NAME}: tools must be a list")
    for tool in tools:
        if function_tool(tool, _NAME) is None:
            raise ConfigurationError(f"{_NAME} takes only function tools, got {tool!r:.80}")
    return list(tools)


class OllamaProvider:
    """The Ollama codec (``ollama/`` models), chat and completion."""

    name: str = _NAME
    framing: Framing = "ndjson"

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        params = dict(request.params)
        reject_params(_NAME, params, OPENAI_ONLY)
        chat = request.kind != "completion"
        fields = _CHAT_FIELDS if chat else _GENERATE_FIELDS
        unknown = sorted(k for k in params if k not in _OPTIONS and k not in fields
                         and k not in _IGNORED)
        if unknown:
            raise ConfigurationError(
                f"{_NAME} does not know the parameter(s) {', '.join(unknown)} (Ollama would "
                "ignore them silently); model options go in options={...}"
            )
        check_n(params, _NAME)
        choice = params.get("tool_choice")
        if choice is not None and parse_tool_choice(choice, _NAME).mode != "auto":
            raise ConfigurationError(f"{_NAME} supports only tool_choice='auto', got {choice!r}")
        if params.get("parallel_tool_calls") is False:
            raise ConfigurationError(f"{_NAME} cannot turn parallel tool calls off")

        body: dict[str, Any] = {"model": config.model}
        if chat:
            body["messages"] = ollama_messages(request.messages)
            if params.get("tools"):
                body["tools"] = _check_tools(params["tools"])
        else:
            if request.prompt is None:
                raise ConfigurationError(f"{_NAME}: a completion request needs a prompt")
            if params.get("tools"):
                raise ConfigurationError(f"{_NAME}: tools need a chat request, not a completion")
            body["prompt"] = request.prompt
        options: dict[str, Any] = dict(params.get("options") or {})
        for key, value in params.items():
            if key in _OPTIONS and value is not None:
                options[key] = value
            elif key in fields:
                body[key] = value
        limit = max_output_tokens(params, _NAME)
        if limit is not None:
            options["num_predict"] = limit
        if params.get("stop") is not None:
            options["stop"] = stop_sequences(params["stop"], _NAME)
        schema = response_schema(params.get("response_format") or {"type": "text"}, _NAME)
        if schema is not None:
            body["format"] = dict(schema) if isinstance(schema, Mapping) else "json"
        if options:
            body["options"] = options
        body["stream"] = True
        headers = {"Content-Type": "application/json", "Accept": "application/x-ndjson",
                   **config.headers}
        secret: dict[str, Secret] = {}
        if config.api_key is not None:
            secret["Authorization"] = Secret("Bearer " + config.api_key.reveal())
        base = config.base_url.rstrip("/")
        base = base.removesuffix("/api")
        url = base + ("/api/chat" if chat else "/api/generate")
        return HTTPRequest("POST", url, body, headers, secret, "ndjson")

    def new_decoder(self, request: RequestInput) -> OllamaDecoder:
        return OllamaDecoder()

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        """Reads ``{"error": "..."}``; anything else keeps its text in ``body``."""
        data = decode_error_body(body)
        message = data.get("error") if isinstance(data, dict) else None
        if isinstance(message, dict):
            message = message.get("message")
        return build_status_error(
            status_code, headers, body, provider=_NAME,
            provider_message=message if isinstance(message, str) else None,
        )
