"""Anthropic Messages: ``POST {base}/v1/messages`` with ``stream: true``.

Requests are written in OpenAI form and translated: system/developer messages
become ``system``, assistant ``tool_calls`` become ``tool_use`` blocks, ``tool``
messages become ``tool_result`` blocks in a user turn, consecutive turns of one
role are merged (the API wants user/assistant alternation).

The stream is a sequence of typed SSE events (``message_start``,
``content_block_*``, ``message_delta``, ``message_stop``, ``ping``, ``error``).
Tool calls are numbered by their order among ``tool_use`` blocks (0, 1, 2...),
not by content-block index, so a thinking or text block before them does not
leave holes. Usage is merged across events (``message_start`` input counts,
``message_delta`` cumulative output count) and always emitted whole.
"""

from __future__ import annotations

import json
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
    check_n,
    content_parts,
    function_tool,
    image_of,
    max_output_tokens,
    parse_tool_choice,
    part_text,
    request_messages,
    stop_sequences,
    system_text,
    tool_call_function,
)

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicDecoder",
    "AnthropicProvider",
    "anthropic_messages",
    "anthropic_usage",
]

#: The ``anthropic-version`` header sent with every request.
ANTHROPIC_VERSION = "2023-06-01"
#: ``max_tokens`` is required by the API; used when the caller gives none
#: (on top of the thinking budget, which must fit below it).
DEFAULT_MAX_TOKENS = 4096

_NAME = "anthropic"

_FINISH = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
    "model_context_window_exceeded": "length", "tool_use": "tool_calls",
    "refusal": "content_filter", "pause_turn": "other",
}

#: OpenAI parameters the Messages API has no equivalent for.
_UNSUPPORTED = (*OPENAI_ONLY, "frequency_penalty", "presence_penalty", "response_format", "seed")

#: Content block types of the Messages API passed through unchanged when a
#: caller writes them natively in a content list.
_NATIVE_BLOCKS = frozenset({"image", "document", "thinking", "redacted_thinking", "tool_use",
                            "tool_result", "search_result"})

_RETRYABLE_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})

_INPUT_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")



def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def anthropic_usage(u: Mapping[str, Any]) -> Usage:
    """A ``Usage`` from a merged Anthropic usage object.

    ``prompt_tokens`` counts every input token, cached or not (OpenAI's
    meaning): ``input_tokens + cache_creation_input_tokens +
    cache_read_input_tokens``; ``cached_tokens`` is the cache reads. The
    provider's own numbers stay in ``raw``.
    """
    counts = [_int(u.get(k)) for k in _INPUT_KEYS]
    known = [c for c in counts if c is not None]
    prompt = sum(known) if known else None
    completion = _int(u.get("output_tokens"))
    details = u.get("output_tokens_details")
    reasoning = _int(details.get("thinking_tokens")) if isinstance(details, dict) else None
    total = prompt + completion if prompt is not None and completion is not None else None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total,
                 reasoning_tokens=reasoning, cached_tokens=counts[2], raw=dict(u))


class AnthropicDecoder:
    """Decodes the events of one Messages stream into chunks.

    Keeps the message id, model and usage of ``message_start`` until the first
    chunk that carries something, the ordinal of each ``tool_use`` block, and
    the usage merged so far.
    """

    __slots__ = ("_blocks", "_id", "_model", "_pending", "_tools", "_usage")

    def __init__(self) -> None:
        #: content-block index -> [tool ordinal, start input, arguments seen]
        self._blocks: dict[Any, list[Any]] = {}
        self._tools = 0
        self._usage: dict[str, Any] = {}
        self._id: str | None = None
        self._model: str | None = None
        self._pending = False

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        obj = event_object(data, _NAME)
        kind = obj.get("type") or event
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if type(delta) is not dict:
                return []
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                return [self._emit(obj, text=text)] if text else []
            if dtype == "input_json_delta":
                entry = self._blocks.get(obj.get("index"))
                fragment = delta.get("partial_json")
                if entry is None or not fragment or type(fragment) is not str:
                    return []
                entry[2] = True
                return [self._emit(obj, calls=(ToolCallDelta(entry[0], None, None, fragment),))]
            if dtype == "thinking_delta":
                thinking = delta.get("thinking")
                return [self._emit(obj, reasoning=thinking)] if thinking else []
            if dtype == "signature_delta":
                # Nothing to show, but the signature must reach the caller (it
                # is sent back in multi-turn tool use): a chunk with raw only.
                return [self._emit(obj)]
            return []  # citations_delta and future delta types
        if kind == "content_block_start":
            return self._block_start(obj)
        if kind == "content_block_stop":
            entry = self._blocks.get(obj.get("index"))
            if entry is not None and not entry[2] and entry[1]:
                # A tool_use block that streamed no input: its start block
                # carried the whole input.
                entry[2] = True
                args = json.dumps(entry[1], ensure_ascii=False)
                return [self._emit(obj, calls=(ToolCallDelta(entry[0], None, None, args),))]
            return []
        if kind == "message_delta":
            return self._message_delta(obj)
        if kind == "message_start":
            message = obj.get("message")
            if type(message) is dict:
                self._id = message.get("id")
                self._model = message.get("model")
                self._merge_usage(message.get("usage"))
                self._pending = True
            return []
        if kind == "error":
            raise self._error(obj, data)
        return []  # ping, message_stop, unknown events

    def _emit(self, obj: dict[str, Any], text: str | None = None, reasoning: str | None = None,
              calls: tuple[ToolCallDelta, ...] = (), finish: str | None = None,
              native: str | None = None, usage: Usage | None = None) -> Chunk:
        if self._pending:
            self._pending = False
            if usage is None and self._usage:
                usage = anthropic_usage(self._usage)
            return Chunk(text, reasoning, calls, finish, native, usage, 0, obj, None,
                         self._id, self._model)
        return Chunk(text, reasoning, calls, finish, native, usage, 0, obj)

    def _block_start(self, obj: dict[str, Any]) -> list[Chunk]:
        block = obj.get("content_block")
        if type(block) is not dict:
            return []
        btype = block.get("type")
        if btype == "tool_use":
            ordinal = self._tools
            self._tools += 1
            self._blocks[obj.get("index")] = [ordinal, block.get("input"), False]
            call = ToolCallDelta(ordinal, block.get("id"), block.get("name"), "")
            return [self._emit(obj, calls=(call,))]
        if btype == "text":
            text = block.get("text")
            return [self._emit(obj, text=text)] if text and type(text) is str else []
        if btype == "thinking":
            thinking = block.get("thinking")
            if thinking and type(thinking) is str:
                return [self._emit(obj, reasoning=thinking)]
            return []
        # redacted_thinking, server_tool_use (run by Anthropic, not the caller),
        # tool results and unknown block types carry nothing to fold.
        return []

    def _message_delta(self, obj: dict[str, Any]) -> list[Chunk]:
        delta = obj.get("delta")
        native = delta.get("stop_reason") if type(delta) is dict else None
        usage = None
        if self._merge_usage(obj.get("usage")):
            usage = anthropic_usage(self._usage)
        if not native and usage is None:
            return []
        finish = _FINISH.get(native, "other") if native else None
        return [self._emit(obj, finish=finish, native=native or None, usage=usage)]

    def _merge_usage(self, usage: Any) -> bool:
        """Fold a (partial, cumulative) usage object in; True if it had counts."""
        if type(usage) is not dict:
            return False
        merged = self._usage
        for key, value in usage.items():
            if value is not None:
                merged[key] = value
        return bool(usage)

    @staticmethod
    def _error(obj: dict[str, Any], data: str) -> ProviderError:
        err = obj.get("error")
        etype = err.get("type") if isinstance(err, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
        request_id = obj.get("request_id")
        error = ProviderError(
            f"{_NAME} reported an error mid-stream: {etype or 'error'}: {message}",
            provider_message=message if isinstance(message, str) else None,
            type=etype if isinstance(etype, str) else None, body=data,
            request_id=request_id if isinstance(request_id, str) else None, provider=_NAME,
        )
        if etype in _RETRYABLE_TYPES:
            error.retryable = True
        return error


def _image_block(part: Mapping[str, Any]) -> dict[str, Any]:
    image = image_of(part, _NAME)
    if image.data is not None:
        source = {"type": "base64", "media_type": image.media_type, "data": image.data}
    else:
        source = {"type": "url", "url": image.url}
    return {"type": "image", "source": source}


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    """Anthropic content blocks for OpenAI-form content."""
    out: list[dict[str, Any]] = []
    for part in content_parts(content, _NAME):
        kind = part.get("type", "text")
        if kind == "text":
            text = part_text(part, _NAME)
            if text:
                block: dict[str, Any] = {"type": "text", "text": text}
                if "cache_control" in part:
                    block["cache_control"] = part["cache_control"]
                out.append(block)
        elif kind == "image_url":
            out.append(_image_block(part))
        elif kind in _NATIVE_BLOCKS:
            out.append(dict(part))
        else:
            raise ConfigurationError(f"{_NAME}: content parts of type {kind!r} are not supported")
    return out


def _tool_result(message: Mapping[str, Any]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise ConfigurationError(f"{_NAME}: a tool message needs its tool_call_id")
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if content is not None:
        block["content"] = content if isinstance(content, str) else _content_blocks(content)
    return block


def anthropic_messages(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` in Messages API form from OpenAI-form messages."""
    system, rest = system_text(messages, _NAME)
    out: list[dict[str, Any]] = []
    for message in rest:
        role = message["role"]
        if role == "tool":
            role, blocks = "user", [_tool_result(message)]
        elif role == "user":
            blocks = _content_blocks(message.get("content"))
        else:
            blocks = _content_blocks(message.get("content"))
            calls = message.get("tool_calls")
            for call in calls if isinstance(calls, Sequence) else ():
                cid, name, args = tool_call_function(call, _NAME)
                blocks.append({"type": "tool_use", "id": cid, "name": name, "input": args})
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out


def _tool_specs(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, Sequence):
        raise ConfigurationError(f"{_NAME}: tools must be a list")
    out: list[dict[str, Any]] = []
    for tool in tools:
        fn = function_tool(tool, _NAME)
        if fn is None:
            if "name" not in tool:
                raise ConfigurationError(
                    f"{_NAME}: tools must be function tools or Anthropic tools, got {tool!r:.80}"
                )
            out.append(dict(tool))  # an Anthropic-native tool definition
            continue
        spec: dict[str, Any] = {"name": fn.name}
        if fn.description:
            spec["description"] = fn.description
        spec["input_schema"] = dict(fn.parameters or {"type": "object", "properties": {}})
        out.append(spec)
    return out


def _tool_choice(choice: Any) -> dict[str, Any]:
    if isinstance(choice, Mapping) and choice.get("type") in ("auto", "any", "tool", "none"):
        return dict(choice)  # already in Anthropic form
    parsed = parse_tool_choice(choice, _NAME)
    if parsed.mode == "function":
        return {"type": "tool", "name": parsed.name}
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[parsed.mode]}


class AnthropicProvider:
    """The Anthropic Messages codec (``anthropic/`` models)."""

    name: str = _NAME
    framing: Framing = "sse"

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        params = dict(request.params)
        reject_params(_NAME, params, _UNSUPPORTED)
        check_n(params, _NAME)
        system, translated = anthropic_messages(request_messages(request, _NAME))
        limit = max_output_tokens(params, _NAME)
        if limit is None:
            thinking = params.get("thinking")
            budget = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
            limit = DEFAULT_MAX_TOKENS + (budget if type(budget) is int else 0)
        body: dict[str, Any] = {"model": config.model, "max_tokens": limit, "messages": translated}
        native_system = params.pop("system", None)
        if native_system is not None and system is not None:
            raise ConfigurationError(f"{_NAME}: give the system prompt as messages or as system=")
        if native_system is not None or system is not None:
            body["system"] = system if native_system is None else native_system
        for key in ("n", "max_tokens", "max_completion_tokens", "stream", "stream_options"):
            params.pop(key, None)
        stop = params.pop("stop", None)
        if stop is not None:
            body["stop_sequences"] = stop_sequences(stop, _NAME)
        tools = params.pop("tools", None)
        if tools:
            body["tools"] = _tool_specs(tools)
        choice = params.pop("tool_choice", None)
        parallel = params.pop("parallel_tool_calls", None)
        if choice is not None:
            body["tool_choice"] = _tool_choice(choice)
        if parallel is False and tools:
            tc = body.setdefault("tool_choice", {"type": "auto"})
            if tc.get("type") != "none":
                tc["disable_parallel_tool_use"] = True
        user = params.pop("user", None)
        if user is not None:
            metadata = dict(params.pop("metadata", None) or {})
            metadata.setdefault("user_id", user)
            body["metadata"] = metadata
        body.update(params)  # temperature, top_p, top_k, thinking, metadata, ...
        body["stream"] = True
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   "anthropic-version": ANTHROPIC_VERSION, **config.headers}
        secret: dict[str, Secret] = {}
        if config.api_key is not None:
            secret["x-api-key"] = config.api_key
        base = config.base_url.rstrip("/")
        url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        return HTTPRequest("POST", url, body, headers, secret, "sse")

    def new_decoder(self, request: RequestInput) -> AnthropicDecoder:
        return AnthropicDecoder()

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        """Reads ``{"type": "error", "error": {"type", "message"}, "request_id"}``;
        the request id otherwise comes from the ``request-id`` header."""
        data = decode_error_body(body)
        message = etype = request_id = None
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict):
                message, etype = err.get("message"), err.get("type")
            elif isinstance(err, str):
                message = err
            request_id = data.get("request_id")
        return build_status_error(
            status_code, headers, body, provider=_NAME,
            provider_message=message if isinstance(message, str) else None,
            type=etype if isinstance(etype, str) else None, request_id_header="request-id",
            request_id=request_id if isinstance(request_id, str) else None,
        )
