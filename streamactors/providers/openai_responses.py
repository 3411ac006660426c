"""Codec for the OpenAI Responses API (``POST {base}/responses``, SSE).

Requests are written in the library's common OpenAI chat form (messages,
function tools) and translated here into Responses ``input`` items, so a
caller can switch between Chat Completions and Responses by changing only the
provider. The stream is a sequence of typed events (``response.*``) with no
``[DONE]``: a terminal ``response.completed`` / ``response.incomplete`` carries
the finish reason and usage, ``response.failed`` and ``error`` are in-band
errors. See WIRE-FORMATS.md §3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._chunk import Chunk, ToolCallDelta, Usage
from ..errors import ConfigurationError, HTTPStatusError, ProtocolError, ProviderError
from ._base import Framing, HTTPRequest, ProviderConfig, RequestInput, loads_event, reject_params
from ._messages import content_parts, text_of
from .openai_chat import bearer_headers, openai_error_from_response

__all__ = ["OpenAIResponsesDecoder", "OpenAIResponsesProvider"]

_PROVIDER = "openai"
_NAME = "openai-responses"
_UNSUPPORTED = (
    "n", "stop", "seed", "logprobs", "frequency_penalty", "presence_penalty",
    "logit_bias", "functions", "function_call",
)
#: Chat-style names that mean Responses' ``max_output_tokens``.
_MAX_TOKENS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
#: Parameters handled explicitly rather than passed through.
_HANDLED = frozenset(
    {*_MAX_TOKENS, "tools", "tool_choice", "stream", "stream_options", "model",
     "response_format", "reasoning_effort", "input"}
)
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


# --------------------------------------------------------------------------- request


def _user_part(part: Mapping[str, Any]) -> dict[str, Any]:
    """One chat content part of a user message as a Responses input part."""
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"{_NAME}: an image_url part needs a 'url'")
        detail = image.get("detail") if isinstance(image, Mapping) else None
        return {"type": "input_image", "image_url": url, "detail": detail or "auto"}
    if kind == "file":
        return {"type": "input_file", **dict(part.get("file") or {})}
    return dict(part)  # already a Responses part (input_text, input_image, input_file...)


def _assistant_items(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An assistant chat message as a message item plus ``function_call`` items."""
    items: list[dict[str, Any]] = []
    parts = [
        {"type": "output_text", "text": p.get("text", "")} if p.get("type") == "text"
        else dict(p)  # refusal and output_text parts are the same in both APIs
        for p in content_parts(msg.get("content"), _NAME)
    ]
    if msg.get("refusal"):
        parts.append({"type": "refusal", "refusal": msg["refusal"]})
    if parts:
        items.append({"type": "message", "role": "assistant", "content": parts})
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        items.append({"type": "function_call", "call_id": call.get("id"),
                      "name": fn.get("name"), "arguments": fn.get("arguments") or ""})
    return items


def translate_messages(
    messages: Any, instructions: str | None
) -> tuple[list[Any], str | None]:
    """Chat messages as Responses ``input`` items and ``instructions``.

    Leading system/developer messages become ``instructions`` (joined by blank
    lines) unless the caller gave ``instructions`` explicitly; later ones stay
    in place as developer/system message items so the order is kept. Items
    already in Responses form (a ``type`` and no chat ``role``) pass through.
    """
    items: list[Any] = []
    leading: list[str] = []
    for msg in messages:
        if not isinstance(msg, Mapping):
            raise ConfigurationError(f"{_NAME}: each message must be an object")
        role = msg.get("role")
        if role in ("system", "developer"):
            text = text_of(msg.get("content"), _NAME)
            if instructions is None and not items:
                leading.append(text)
            else:
                items.append({"role": role, "content": text})
        elif role == "user":
            parts = [_user_part(p) for p in content_parts(msg.get("content"), _NAME)]
            items.append({"type": "message", "role": "user", "content": parts})
        elif role == "assistant":
            items.extend(_assistant_items(msg))
        elif role == "tool":
            items.append({"type": "function_call_output", "call_id": msg.get("tool_call_id"),
                          "output": text_of(msg.get("content"), _NAME)})
        elif role is None and "type" in msg:
            items.append(dict(msg))
        else:
            raise ConfigurationError(f"{_NAME} cannot send a message with role {role!r}")
    if leading:
        instructions = "\n\n".join(leading)
    return items, instructions


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A chat function tool in the flat Responses form (others pass through)."""
    fn = tool.get("function")
    if tool.get("type") == "function" and isinstance(fn, Mapping):
        return {"type": "function", **dict(fn)}
    return dict(tool)


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        return {"type": "function", "name": choice["function"].get("name")}
    return choice


def _text_format(response_format: Mapping[str, Any]) -> dict[str, Any]:
    """Chat ``response_format`` as a Responses ``text.format``."""
    if response_format.get("type") == "json_schema":
        schema = dict(response_format.get("json_schema") or {})
        return {"type": "json_schema", **schema}
    return dict(response_format)


def build_body(model: str, request: RequestInput) -> dict[str, Any]:
    """The Responses request body for ``request`` (see the module docstring)."""
    params = request.params
    reject_params(_NAME, params, _UNSUPPORTED)
    so = params.get("stream_options")
    if so is not None and so != {"include_usage": True}:
        raise ConfigurationError(
            "openai-responses does not support stream_options (usage is always sent)"
        )
    if request.kind != "chat":
        raise ConfigurationError("openai-responses serves chat requests only")
    body: dict[str, Any] = {"model": model}
    instructions = params.get("instructions")
    if "input" in params:
        if request.messages:
            raise ConfigurationError("openai-responses: give messages or input, not both")
        body["input"] = params["input"]
    else:
        body["input"], instructions = translate_messages(request.messages, instructions)
    if instructions is not None:
        body["instructions"] = instructions
    body["stream"] = True
    for key, value in params.items():
        if key not in _HANDLED and key != "instructions":
            body[key] = value
    limits = {params[k] for k in _MAX_TOKENS if params.get(k) is not None}
    if len(limits) > 1:
        raise ConfigurationError(
            "openai-responses: max_tokens, max_completion_tokens and max_output_tokens "
            "disagree; give one"
        )
    if limits:
        body["max_output_tokens"] = limits.pop()
    if params.get("tools") is not None:
        body["tools"] = [_tool(t) for t in params["tools"]]
    if params.get("tool_choice") is not None:
        body["tool_choice"] = _tool_choice(params["tool_choice"])
    if params.get("response_format") is not None:
        text = dict(body.get("text") or {})
        text["format"] = _text_format(params["response_format"])
        body["text"] = text
    if params.get("reasoning_effort") is not None:
        reasoning = dict(body.get("reasoning") or {})
        reasoning.setdefault("effort", params["reasoning_effort"])
        body["reasoning"] = reasoning
    return body


# --------------------------------------------------------------------------- stream


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    out_details = raw.get("output_tokens_details") or {}
    in_details = raw.get("input_tokens_details") or {}
    return Usage(
        prompt_tokens=raw.get("input_tokens"),
        completion_tokens=raw.get("output_tokens"),
        total_tokens=raw.get("total_tokens"),
        reasoning_tokens=out_details.get("reasoning_tokens"),
        cached_tokens=in_details.get("cached_tokens"),
        raw=raw,
    )


class OpenAIResponsesDecoder:
    """Decoding state of one Responses stream.

    Function calls are numbered 0, 1, 2... in the order their output items
    appear (the ``ToolCallDelta.index``), whatever their ``output_index``; the
    id reported is the ``call_id`` a tool result must quote, not the item id.
    The response id and model are attached to the next chunk after they are
    learned, and again to the final chunk.
    """

    __slots__ = ("_by_item", "_by_output", "_calls", "_has_args", "_id", "_model",
                 "_named", "_pending", "_reasoning_key", "_reasoning_seen")

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

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        """The chunks of one SSE event (see ``StreamDecoder``)."""
        try:
            payload = loads_event(data)
        except ValueError as exc:
            if data.strip() == "[DONE]":  # not sent by OpenAI; tolerated from proxies
                return []
            raise ProtocolError(
                f"openai-responses sent an event that is not JSON: {exc}", payload=data
            ) from None
        if not isinstance(payload, dict):
            raise ProtocolError("openai-responses sent a non-object event", payload=data)
        kind = payload.get("type") or event
        if kind == "response.output_text.delta":
            lp = payload.get("logprobs")
            # In chat's ``{"content": [...]}`` shape so logprobs concatenate alike.
            return [self._chunk(payload, text=payload.get("delta") or None,
                                logprobs={"content": lp} if lp else None)]
        if kind == "response.function_call_arguments.delta":
            index = self._ordinal(payload.get("item_id"), payload.get("output_index"))
            self._has_args.add(index)
            delta = ToolCallDelta(index, arguments=payload.get("delta") or "")
            return [self._chunk(payload, tool_calls=(delta,))]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [self._chunk(payload, reasoning=self._reasoning(payload, kind) or None)]
        if kind == "response.refusal.delta":
            return [self._chunk(payload, refusal=payload.get("delta") or None)]
        if kind == "response.output_item.added" or kind == "response.output_item.done":
            return self._item(payload, kind == "response.output_item.done")
        if kind in ("response.created", "response.in_progress", "response.queued"):
            self._learn(payload.get("response"))
            return []
        if kind == "response.completed" or kind == "response.incomplete":
            return [self._finish(payload, kind == "response.completed")]
        if kind == "response.failed":
            response = payload.get("response")
            err = response.get("error") if isinstance(response, dict) else None
            self._learn(response)
            raise self._error(err if isinstance(err, dict) else {}, data, "response failed")
        if kind == "error":
            err = payload.get("error")
            raise self._error(err if isinstance(err, dict) else payload, data, "stream error")
        return []

    def _chunk(self, payload: dict[str, Any], **fields: Any) -> Chunk:
        if self._pending:
            self._pending = False
            return Chunk(raw=payload, id=self._id, model=self._model, **fields)
        return Chunk(raw=payload, **fields)

    def _learn(self, response: Any) -> None:
        if isinstance(response, dict):
            rid = response.get("id") or self._id
            model = response.get("model") or self._model
            if rid != self._id or model != self._model:
                self._id, self._model, self._pending = rid, model, True

    def _ordinal(self, item_id: Any, output_index: Any) -> int:
        """The tool-call index of an output item, numbering new items as they come."""
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

    def _item(self, payload: dict[str, Any], done: bool) -> list[Chunk]:
        item = payload.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return []
        index = self._ordinal(item.get("id"), payload.get("output_index"))
        args = item.get("arguments") or ""
        if done:
            # ``.done`` repeats what was streamed; use it only for what never came.
            call_id = name = None
            if index not in self._named:
                call_id, name = item.get("call_id"), item.get("name")
            if index in self._has_args:
                args = ""
            if call_id is None and name is None and not args:
                return []
        else:
            call_id, name = item.get("call_id"), item.get("name")
        self._named.add(index)
        if args:
            self._has_args.add(index)
        delta = ToolCallDelta(index, id=call_id, name=name, arguments=args)
        return [self._chunk(payload, tool_calls=(delta,))]

    def _reasoning(self, payload: dict[str, Any], kind: str) -> str:
        """The reasoning delta, with a blank line before each new summary part."""
        part = payload.get("summary_index", payload.get("content_index"))
        key = (kind, payload.get("item_id"), part)
        delta: str = payload.get("delta") or ""
        if key != self._reasoning_key:
            if self._reasoning_seen and delta:
                delta = "\n\n" + delta
            self._reasoning_key = key
        self._reasoning_seen = self._reasoning_seen or bool(delta)
        return delta

    def _finish(self, payload: dict[str, Any], completed: bool) -> Chunk:
        response = payload.get("response")
        response = response if isinstance(response, dict) else {}
        self._learn(response)
        self._pending = False
        calls: list[ToolCallDelta] = []
        for pos, item in enumerate(response.get("output") or ()):
            # A server that skipped the item events still lists its calls here.
            if (isinstance(item, dict) and item.get("type") == "function_call"
                    and item.get("id") not in self._by_item and pos not in self._by_output):
                calls.append(ToolCallDelta(self._ordinal(item.get("id"), pos),
                                           id=item.get("call_id"), name=item.get("name"),
                                           arguments=item.get("arguments") or ""))
        if completed:
            finish, native = ("tool_calls" if self._calls else "stop"), "completed"
        else:
            details = response.get("incomplete_details") or {}
            native = details.get("reason") or "incomplete"
            finish = _INCOMPLETE.get(native, "other")
        return Chunk(tool_calls=tuple(calls), finish_reason=finish,
                     native_finish_reason=native, usage=_usage(response.get("usage")),
                     raw=payload, id=self._id, model=self._model)

    @staticmethod
    def _error(err: dict[str, Any], data: str, what: str) -> ProviderError:
        message = err.get("message")
        code = err.get("code") if isinstance(err.get("code"), (str, int)) else None
        etype = err.get("type")
        if not isinstance(etype, str) or etype == "error":
            etype = code if isinstance(code, str) else None
        return ProviderError(
            f"openai-responses {what}: {message or 'no message'}",
            provider_message=message if isinstance(message, str) else None,
            type=etype, code=code, body=data, provider=_PROVIDER,
        )


# --------------------------------------------------------------------------- provider


class OpenAIResponsesProvider:
    """The codec of OpenAI's Responses API (model prefix ``openai-responses``)."""

    name = "openai-responses"
    framing: Framing = "sse"

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
