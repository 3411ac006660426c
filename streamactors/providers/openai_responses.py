"""Codec for the OpenAI Responses API (``POST {base}/responses``, SSE).

Requests are written in the library's common OpenAI chat form (messages,
function tools) and translated into Responses ``input`` items (see
``openai_responses_input.py``), so a caller can switch between Chat
Completions and Responses by changing only the provider. The stream is a
sequence of typed events (``response.*``) with no ``[DONE]``: a terminal
``response.completed`` / ``response.incomplete`` carries the finish reason and
usage, ``response.failed`` and ``error`` are in-band errors. See
WIRE-FORMATS.md §3.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._chunk import Chunk, ToolCallDelta, Usage
from ..errors import HTTPStatusError, ProtocolError, ProviderError
from ._base import (
    Continuation,
    Framing,
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    expect_list,
    expect_object,
    expect_str,
    loads_event,
    wrong_shape,
)
from ._fields import FieldTable
from .openai_common import bearer_headers, count, openai_error_from_response
from .openai_fields import RESPONSES
from .openai_responses_input import build_body, translate_messages

__all__ = ["OpenAIResponsesDecoder", "OpenAIResponsesProvider", "build_body",
           "translate_messages"]

_PROVIDER = "openai"
_NAME = "openai-responses"
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _usage(raw: Any) -> Usage | None:
    raw = expect_object(raw, _NAME, "response.usage")
    if raw is None:
        return None
    out_details = expect_object(raw.get("output_tokens_details"), _NAME,
                                "response.usage.output_tokens_details") or {}
    in_details = expect_object(raw.get("input_tokens_details"), _NAME,
                               "response.usage.input_tokens_details") or {}
    where = "response.usage"
    return Usage(
        prompt_tokens=count(raw, "input_tokens", _NAME, where),
        completion_tokens=count(raw, "output_tokens", _NAME, where),
        total_tokens=count(raw, "total_tokens", _NAME, where),
        reasoning_tokens=count(out_details, "reasoning_tokens", _NAME,
                               where + ".output_tokens_details"),
        cached_tokens=count(in_details, "cached_tokens", _NAME, where + ".input_tokens_details"),
        raw=raw,
    )


def _int_or_none(value: Any, where: str) -> int | None:
    if value is None or type(value) is int:
        return value
    raise wrong_shape(_NAME, where, value, "an integer")


class OpenAIResponsesDecoder:
    """Decoding state of one Responses stream.

    Function calls are numbered 0, 1, 2... in the order their output items
    appear (the ``ToolCallDelta.index``), whatever their ``output_index``; the
    id reported is the ``call_id`` a tool result must quote, not the item id.
    The response id and model are attached to the next chunk after they are
    learned, and again to the final chunk.

    Attributes:
        done: True once ``response.completed``, ``response.incomplete`` or
            ``response.failed`` arrived.
    """

    __slots__ = ("_by_item", "_by_output", "_calls", "_has_args", "_id", "_model",
                 "_named", "_pending", "_reasoning_key", "_reasoning_seen", "done")

    def __init__(self) -> None:
        self._id: str | None = None
        self._model: str | None = None
        self._pending = False
        self._by_item: dict[str, int] = {}
        self._by_output: dict[int, int] = {}
        self._calls = 0
        self._has_args: set[int] = set()
        self._named: set[int] = set()
        self._reasoning_key: tuple[Any, ...] | None = None
        self._reasoning_seen = False
        self.done = False

    def continuation(self) -> Continuation:
        """Nothing: with ``store`` (the default) ``previous_response_id`` carries
        the reasoning items over; the normalized message has no place for them."""
        return {}

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        """The chunks of one SSE event (see ``StreamDecoder``)."""
        try:
            payload = loads_event(data)
        except ValueError as exc:
            if data.strip() == "[DONE]":  # not sent by OpenAI; tolerated from proxies
                return []
            raise ProtocolError(
                f"{_NAME} sent an event that is not JSON: {exc}", payload=data
            ) from None
        if type(payload) is not dict:
            raise ProtocolError(f"{_NAME} sent a non-object event", payload=data)
        kind = payload.get("type") or event
        if kind == "response.output_text.delta":
            return [self._text(payload)]
        if type(kind) is not str:
            raise wrong_shape(_NAME, "type", kind, "a string")
        handler = _HANDLERS.get(kind)
        return handler(self, payload, kind, data) if handler is not None else []

    def _text(self, payload: dict[str, Any]) -> Chunk:
        text = payload.get("delta")
        if text is not None and type(text) is not str:
            raise wrong_shape(_NAME, "delta", text, "a string")
        lp = payload.get("logprobs")
        if lp and type(lp) is not list:
            raise wrong_shape(_NAME, "logprobs", lp, "a list")
        # In chat's ``{"content": [...]}`` shape so logprobs concatenate alike.
        return self._chunk(payload, text=text or None, logprobs={"content": lp} if lp else None)

    def _delta(self, payload: dict[str, Any]) -> str:
        return expect_str(payload.get("delta"), _NAME, "delta") or ""

    def _arguments(self, payload: dict[str, Any], kind: str, data: str) -> list[Chunk]:
        index = self._ordinal(payload.get("item_id"), payload.get("output_index"), "item_id")
        self._has_args.add(index)
        delta = ToolCallDelta(index, arguments=self._delta(payload))
        return [self._chunk(payload, tool_calls=(delta,))]

    def _reasoning(self, payload: dict[str, Any], kind: str, data: str) -> list[Chunk]:
        """The reasoning delta, with a blank line before each new summary part."""
        part = payload.get("summary_index", payload.get("content_index"))
        key = (kind, payload.get("item_id"), part)
        delta = self._delta(payload)
        if key != self._reasoning_key:
            if self._reasoning_seen and delta:
                delta = "\n\n" + delta
            self._reasoning_key = key
        self._reasoning_seen = self._reasoning_seen or bool(delta)
        return [self._chunk(payload, reasoning=delta or None)]

    def _refusal(self, payload: dict[str, Any], kind: str, data: str) -> list[Chunk]:
        return [self._chunk(payload, refusal=self._delta(payload) or None)]

    def _started(self, payload: dict[str, Any], kind: str, data: str) -> list[Chunk]:
        self._learn(payload.get("response"))
        return []

    def _chunk(self, payload: dict[str, Any], **fields: Any) -> Chunk:
        if self._pending:
            self._pending = False
            return Chunk(raw=payload, id=self._id, model=self._model, **fields)
        return Chunk(raw=payload, **fields)

    def _learn(self, response: Any) -> dict[str, Any]:
        """Note the response's id and model; the response object ({} if none)."""
        obj: dict[str, Any] = expect_object(response, _NAME, "response") or {}
        rid = expect_str(obj.get("id"), _NAME, "response.id") or self._id
        model = expect_str(obj.get("model"), _NAME, "response.model") or self._model
        if rid != self._id or model != self._model:
            self._id, self._model, self._pending = rid, model, True
        return obj

    def _ordinal(self, item_id: Any, output_index: Any, id_field: str) -> int:
        """The tool-call index of an output item, numbering new items as they
        come (``id_field`` names the item id's field, for an error)."""
        item_id = expect_str(item_id, _NAME, id_field)
        output_index = _int_or_none(output_index, "output_index")
        index = self._by_item.get(item_id) if item_id is not None else None
        if index is None and output_index is not None:
            index = self._by_output.get(output_index)
        if index is None:
            index = self._calls
            self._calls += 1
        if item_id is not None:
            self._by_item[item_id] = index
        if output_index is not None:
            self._by_output[output_index] = index
        return index

    def _item(self, payload: dict[str, Any], kind: str, data: str) -> list[Chunk]:
        item = expect_object(payload.get("item"), _NAME, "item")
        if item is None or item.get("type") != "function_call":
            return []
        done = kind == "response.output_item.done"
        index = self._ordinal(item.get("id"), payload.get("output_index"), "item.id")
        args = expect_str(item.get("arguments"), _NAME, "item.arguments") or ""
        call_id = expect_str(item.get("call_id"), _NAME, "item.call_id")
        name = expect_str(item.get("name"), _NAME, "item.name")
        if done:
            # ``.done`` repeats what was streamed; use it only for what never came.
            if index in self._named:
                call_id = name = None
            if index in self._has_args:
                args = ""
            if call_id is None and name is None and not args:
                return []
        self._named.add(index)
        if args:
            self._has_args.add(index)
        delta = ToolCallDelta(index, id=call_id, name=name, arguments=args)
        return [self._chunk(payload, tool_calls=(delta,))]

    def _unseen_calls(self, response: dict[str, Any]) -> list[ToolCallDelta]:
        """The calls a server listed only in the final response (no item events)."""
        calls: list[ToolCallDelta] = []
        output = expect_list(response.get("output"), _NAME, "response.output") or ()
        for pos, item in enumerate(output):
            where = f"response.output[{pos}]"
            if type(item) is not dict:
                raise wrong_shape(_NAME, where, item, "an object")
            if item.get("type") != "function_call":
                continue
            item_id = expect_str(item.get("id"), _NAME, where + ".id")
            if item_id in self._by_item or pos in self._by_output:
                continue
            calls.append(ToolCallDelta(
                self._ordinal(item_id, pos, where + ".id"),
                id=expect_str(item.get("call_id"), _NAME, where + ".call_id"),
                name=expect_str(item.get("name"), _NAME, where + ".name"),
                arguments=expect_str(item.get("arguments"), _NAME, where + ".arguments") or "",
            ))
        return calls

    def _finish(self, payload: dict[str, Any], kind: str, data: str) -> list[Chunk]:
        """``response.completed`` / ``response.incomplete``: the end of the stream."""
        self.done = True
        response = self._learn(payload.get("response"))
        self._pending = False
        calls = self._unseen_calls(response)
        if kind == "response.completed":
            finish, native = ("tool_calls" if self._calls else "stop"), "completed"
        else:
            details = expect_object(response.get("incomplete_details"), _NAME,
                                    "response.incomplete_details") or {}
            native = expect_str(details.get("reason"), _NAME,
                                "response.incomplete_details.reason") or "incomplete"
            finish = _INCOMPLETE.get(native, "other")
        return [Chunk(tool_calls=tuple(calls), finish_reason=finish,
                      native_finish_reason=native, usage=_usage(response.get("usage")),
                      raw=payload, id=self._id, model=self._model)]

    def _failed(self, payload: dict[str, Any], kind: str, data: str) -> list[Chunk]:
        self.done = True
        response = self._learn(payload.get("response"))
        err = response.get("error")
        raise _error(err if isinstance(err, dict) else {}, data, "response failed")

    def _error_event(self, payload: dict[str, Any], kind: str, data: str) -> list[Chunk]:
        err = payload.get("error")
        raise _error(err if isinstance(err, dict) else payload, data, "stream error")


def _error(err: dict[str, Any], data: str, what: str) -> ProviderError:
    message = err.get("message")
    code = err.get("code") if isinstance(err.get("code"), (str, int)) else None
    etype = err.get("type")
    if not isinstance(etype, str) or etype == "error":
        etype = code if isinstance(code, str) else None
    return ProviderError(
        f"{_NAME} {what}: {message or 'no message'}",
        provider_message=message if isinstance(message, str) else None,
        type=etype, code=code, body=data, provider=_PROVIDER,
    )


_Handler = Callable[[OpenAIResponsesDecoder, dict[str, Any], str, str], list[Chunk]]
D = OpenAIResponsesDecoder

#: Event type -> what it yields; any other event yields nothing.
_HANDLERS: dict[str, _Handler] = {
    "response.function_call_arguments.delta": D._arguments,
    "response.reasoning_summary_text.delta": D._reasoning,
    "response.reasoning_text.delta": D._reasoning,
    "response.refusal.delta": D._refusal,
    "response.output_item.added": D._item,
    "response.output_item.done": D._item,
    "response.created": D._started,
    "response.in_progress": D._started,
    "response.queued": D._started,
    "response.completed": D._finish,
    "response.incomplete": D._finish,
    "response.failed": D._failed,
    "error": D._error_event,
}
del D


class OpenAIResponsesProvider:
    """The codec of OpenAI's Responses API (model prefix ``openai-responses``)."""

    name = "openai-responses"
    framing: Framing = "sse"
    fields: FieldTable = RESPONSES

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        """``POST {base_url}/responses`` with the translated body, streaming."""
        body = build_body(config.model, request)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   **config.headers}
        return HTTPRequest("POST", config.base_url.rstrip("/") + "/responses", body,
                           headers=headers, secret_headers=bearer_headers(config),
                           framing=self.framing)

    def new_decoder(self, request: RequestInput) -> OpenAIResponsesDecoder:
        """A fresh decoder; the request does not change how events decode."""
        return OpenAIResponsesDecoder()

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        """The typed error of an OpenAI-shaped error response."""
        return openai_error_from_response(status_code, headers, body, _PROVIDER)
