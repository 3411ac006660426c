"""Anthropic Messages: ``POST {base}/v1/messages`` with ``stream: true``.

Requests are written in OpenAI form and translated: the field table
``FIELDS`` and the body in ``anthropic_request``, the conversation (with the
thinking blocks a tool loop sends back) in ``anthropic_turns``.

The stream is a sequence of typed SSE events (``message_start``,
``content_block_*``, ``message_delta``, ``message_stop``, ``ping``, ``error``).
Tool calls are numbered by their order among ``tool_use`` blocks (0, 1, 2...),
not by content-block index, so a thinking or text block before them does not
leave holes. Usage is merged across events (``message_start`` input counts,
``message_delta`` cumulative output count) and always emitted whole. Thinking
blocks are kept whole (text and ``signature``), and redacted ones (``data``),
because a tool loop with extended thinking must send them back: that is the
decoder's ``continuation()``. ``done`` turns True at ``message_stop``.

A field of the wrong JSON type is a ``ProtocolError`` naming it; unknown event,
block and delta *types* are skipped (the API adds new ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .._chunk import Chunk, ToolCallDelta, Usage
from ..errors import HTTPStatusError, ProviderError
from ._base import (
    Continuation,
    Framing,
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    Secret,
    StreamDecoder,
    build_status_error,
    decode_error_body,
    event_object,
    expect_object,
    expect_str,
    wrong_shape,
)
from ._fields import FieldTable
from ._output_tool import OutputToolDecoder
from .anthropic_request import DEFAULT_MAX_TOKENS, FIELDS, anthropic_body, anthropic_output
from .anthropic_turns import anthropic_messages

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

_NAME = "anthropic"

_FINISH = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
    "model_context_window_exceeded": "length", "tool_use": "tool_calls",
    "refusal": "content_filter", "pause_turn": "other",
}

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


class _Thought:
    """One thinking or redacted_thinking block, gathered for the next turn."""

    __slots__ = ("kind", "parts", "signature")

    def __init__(self, kind: str, first: str | None, signature: str | None) -> None:
        self.kind = kind
        self.parts: list[str] = [first] if first else []
        self.signature: list[str] = [signature] if signature else []

    def block(self) -> dict[str, Any]:
        """The content block as the API wants it back."""
        if self.kind == "redacted_thinking":
            return {"type": "redacted_thinking", "data": "".join(self.parts)}
        return {"type": "thinking", "thinking": "".join(self.parts),
                "signature": "".join(self.signature)}


def _index(obj: dict[str, Any], where: str) -> int:
    """The content-block ``index`` of an event (a ``ProtocolError`` unless an
    integer: it keys the decoder's tables)."""
    index = obj.get("index")
    if type(index) is int:
        return index
    raise wrong_shape(_NAME, where, index, "an integer")


class AnthropicDecoder:
    """Decodes the events of one Messages stream into chunks.

    Keeps the message id, model and usage of ``message_start`` until the first
    chunk that carries something, the ordinal of each ``tool_use`` block, the
    usage merged so far, and the thinking blocks (``continuation()``).
    """

    __slots__ = ("_blocks", "_id", "_model", "_pending", "_thoughts", "_tools", "_usage", "done")

    def __init__(self) -> None:
        #: content-block index -> [tool ordinal, start input, arguments seen]
        self._blocks: dict[int, list[Any]] = {}
        #: content-block index -> thinking block, in stream order
        self._thoughts: dict[int, _Thought] = {}
        self._tools = 0
        self._usage: dict[str, Any] = {}
        self._id: str | None = None
        self._model: str | None = None
        self._pending = False
        #: True once ``message_stop`` arrived.
        self.done = False

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        obj = event_object(data, _NAME)
        kind = obj.get("type") or event
        if kind == "content_block_delta":
            # The common event first, inline: a text delta.
            delta = obj.get("delta")
            if type(delta) is dict and delta.get("type") == "text_delta":
                text = delta.get("text")
                if type(text) is str:
                    return [self._emit(obj, text=text)] if text else []
            return self._delta(obj, delta)
        handler = _HANDLERS.get(kind) if type(kind) is str else None
        return handler(self, obj, data) if handler is not None else []

    def continuation(self) -> Continuation:
        """The thinking blocks of this answer, whole and in stream order, as
        ``{"message": {"thinking_blocks": [...]}}`` ({} if there were none):
        a tool loop with extended thinking must send them back."""
        if not self._thoughts:
            return {}
        return {"message": {"thinking_blocks": [t.block() for t in self._thoughts.values()]}}

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

    # --- content_block_delta -------------------------------------------------------------

    def _delta(self, obj: dict[str, Any], delta: Any) -> list[Chunk]:
        """Every ``content_block_delta`` but a well-formed text delta."""
        if type(delta) is not dict:
            raise wrong_shape(_NAME, "content_block_delta.delta", delta, "an object")
        dtype = delta.get("type")
        if dtype == "text_delta":  # its text was not a string
            expect_str(delta.get("text"), _NAME, "text_delta.text")
            return []
        if dtype == "input_json_delta":
            return self._input_json(obj, delta)
        if dtype == "thinking_delta":
            return self._thinking(obj, delta)
        if dtype == "signature_delta":
            return self._signature(obj, delta)
        return []  # citations_delta and future delta types

    def _input_json(self, obj: dict[str, Any], delta: dict[str, Any]) -> list[Chunk]:
        fragment = expect_str(delta.get("partial_json"), _NAME, "input_json_delta.partial_json")
        entry = self._blocks.get(_index(obj, "content_block_delta.index"))
        if entry is None or not fragment:
            return []  # a server tool's input, or the usual empty first fragment
        entry[2] = True
        return [self._emit(obj, calls=(ToolCallDelta(entry[0], None, None, fragment),))]

    def _thinking(self, obj: dict[str, Any], delta: dict[str, Any]) -> list[Chunk]:
        thinking = expect_str(delta.get("thinking"), _NAME, "thinking_delta.thinking")
        thought = self._thoughts.get(_index(obj, "content_block_delta.index"))
        if not thinking:
            return []
        if thought is not None:
            thought.parts.append(thinking)
        return [self._emit(obj, reasoning=thinking)]

    def _signature(self, obj: dict[str, Any], delta: dict[str, Any]) -> list[Chunk]:
        signature = expect_str(delta.get("signature"), _NAME, "signature_delta.signature")
        thought = self._thoughts.get(_index(obj, "content_block_delta.index"))
        if thought is not None and signature:
            thought.signature.append(signature)
        # Nothing to show, but the raw event still reaches the caller.
        return [self._emit(obj)]

    # --- other events ----------------------------------------------------------------------

    def _block_start(self, obj: dict[str, Any], data: str) -> list[Chunk]:
        block = expect_object(obj.get("content_block"), _NAME, "content_block_start.content_block")
        if block is None:
            return []
        btype = block.get("type")
        if btype == "tool_use":
            return self._tool_start(obj, block)
        if btype == "text":
            text = expect_str(block.get("text"), _NAME, "content_block.text")
            return [self._emit(obj, text=text)] if text else []
        if btype == "thinking" or btype == "redacted_thinking":
            return self._thought_start(obj, block, btype)
        # server_tool_use (run by Anthropic, not the caller), tool results and
        # unknown block types carry nothing to fold.
        return []

    def _tool_start(self, obj: dict[str, Any], block: dict[str, Any]) -> list[Chunk]:
        index = _index(obj, "content_block_start.index")
        call_id = expect_str(block.get("id"), _NAME, "tool_use.id")
        name = expect_str(block.get("name"), _NAME, "tool_use.name")
        start_input = expect_object(block.get("input"), _NAME, "tool_use.input")
        ordinal = self._tools
        self._tools += 1
        self._blocks[index] = [ordinal, start_input, False]
        # No argument text yet: a call that never streams any adds up to "{}".
        return [self._emit(obj, calls=(ToolCallDelta(ordinal, call_id, name, ""),))]

    def _thought_start(self, obj: dict[str, Any], block: dict[str, Any],
                       btype: str) -> list[Chunk]:
        index = _index(obj, "content_block_start.index")
        if btype == "redacted_thinking":
            data = expect_str(block.get("data"), _NAME, "redacted_thinking.data")
            self._thoughts[index] = _Thought(btype, data, None)
            return []
        thinking = expect_str(block.get("thinking"), _NAME, "thinking.thinking")
        signature = expect_str(block.get("signature"), _NAME, "thinking.signature")
        self._thoughts[index] = _Thought(btype, thinking, signature)
        return [self._emit(obj, reasoning=thinking)] if thinking else []

    def _block_stop(self, obj: dict[str, Any], data: str) -> list[Chunk]:
        entry = self._blocks.get(_index(obj, "content_block_stop.index"))
        if entry is not None and not entry[2] and entry[1]:
            # A tool_use block that streamed no input: its start block
            # carried the whole input.
            entry[2] = True
            args = json.dumps(entry[1], ensure_ascii=False)
            return [self._emit(obj, calls=(ToolCallDelta(entry[0], None, None, args),))]
        return []

    def _message_delta(self, obj: dict[str, Any], data: str) -> list[Chunk]:
        delta = expect_object(obj.get("delta"), _NAME, "message_delta.delta")
        native = None
        if delta is not None:
            native = expect_str(delta.get("stop_reason"), _NAME, "message_delta.stop_reason")
        usage = None
        if self._merge_usage(obj.get("usage"), "message_delta.usage"):
            usage = anthropic_usage(self._usage)
        if not native and usage is None:
            return []
        finish = _FINISH.get(native, "other") if native else None
        return [self._emit(obj, finish=finish, native=native or None, usage=usage)]

    def _message_start(self, obj: dict[str, Any], data: str) -> list[Chunk]:
        message = expect_object(obj.get("message"), _NAME, "message_start.message")
        if message is not None:
            self._id = expect_str(message.get("id"), _NAME, "message_start.message.id")
            self._model = expect_str(message.get("model"), _NAME, "message_start.message.model")
            self._merge_usage(message.get("usage"), "message_start.message.usage")
            self._pending = True
        return []

    def _message_stop(self, obj: dict[str, Any], data: str) -> list[Chunk]:
        self.done = True
        return []

    def _merge_usage(self, usage: Any, where: str) -> bool:
        """Fold a (partial, cumulative) usage object in; True if it had counts."""
        if expect_object(usage, _NAME, where) is None:
            return False
        merged = self._usage
        for key, value in usage.items():
            if value is not None:
                merged[key] = value
        return bool(usage)

    def _error(self, obj: dict[str, Any], data: str) -> list[Chunk]:
        err = obj.get("error")
        etype = err.get("type") if isinstance(err, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
        request_id = obj.get("request_id")
        if not isinstance(etype, str):
            etype = None  # also keeps an unhashable value out of the set test below
        error = ProviderError(
            f"{_NAME} reported an error mid-stream: {etype or 'error'}: {message!s:.500}",
            provider_message=message if isinstance(message, str) else None,
            type=etype, body=data,
            request_id=request_id if isinstance(request_id, str) else None, provider=_NAME,
        )
        if etype in _RETRYABLE_TYPES:
            error.retryable = True
        raise error


_Handler = Callable[[AnthropicDecoder, dict[str, Any], str], list[Chunk]]

#: Event type -> handler, for every event but ``content_block_delta`` (ping
#: and unknown events carry nothing).
_HANDLERS: dict[str, _Handler] = {
    "content_block_start": AnthropicDecoder._block_start,
    "content_block_stop": AnthropicDecoder._block_stop,
    "message_delta": AnthropicDecoder._message_delta,
    "message_start": AnthropicDecoder._message_start,
    "message_stop": AnthropicDecoder._message_stop,
    "error": AnthropicDecoder._error,
}


class AnthropicProvider:
    """The Anthropic Messages codec (``anthropic/`` models)."""

    name: str = _NAME
    framing: Framing = "sse"
    fields: FieldTable = FIELDS

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        body = anthropic_body(config.model, request)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   "anthropic-version": ANTHROPIC_VERSION, **config.headers}
        secret: dict[str, Secret] = {}
        if config.api_key is not None:
            secret["x-api-key"] = config.api_key
        base = config.base_url.rstrip("/")
        url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        return HTTPRequest("POST", url, body, headers, secret, "sse")

    def new_decoder(self, request: RequestInput) -> StreamDecoder:
        output = anthropic_output(request)  # the answer comes as the forced tool's input
        decoder = AnthropicDecoder()
        return decoder if output is None else OutputToolDecoder(decoder, output.name)

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
