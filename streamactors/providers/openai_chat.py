"""OpenAI Chat Completions, and every server that speaks it.

One codec serves ``openai/``, ``mistral/``, ``openrouter/`` and
``openai-compatible/`` (vLLM, llama.cpp, LM Studio, transformers serve...):
they share the wire format and differ in defaults and a few quirks, which the
decoder tolerates (role repeated in every chunk, usage on the finish chunk or on
every chunk, whole tool calls in one fragment, first tool call at index 1,
``reasoning_content`` or ``reasoning``, Mistral's list-form ``content``,
OpenRouter's error chunks, no ``[DONE]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._chunk import Chunk, ToolCallDelta, Usage
from ..errors import HTTPStatusError, ProviderError
from ._base import (
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    Secret,
    build_status_error,
    decode_error_body,
    event_object,
    reject_params,
)

__all__ = [
    "OpenAIChatProvider",
    "bearer_headers",
    "openai_error_from_response",
    "openai_finish_reason",
    "openai_usage",
]

#: Builds a ``Chunk`` from a full tuple of its fields, skipping the keyword
#: handling of the named tuple's ``__new__`` (the fast path of ``feed``).
_new_chunk = tuple.__new__

_FINISH = {
    "stop": "stop",
    "eos": "stop",
    "end_turn": "stop",
    "length": "length",
    "model_length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}



def openai_finish_reason(native: str) -> str:
    """The normalized finish reason for an OpenAI-family value (unknown -> other)."""
    return _FINISH.get(native, "other")


def openai_usage(u: Mapping[str, Any]) -> Usage:
    """A ``Usage`` from an OpenAI-style usage object (tolerating the quirks of
    compatible servers: missing totals, ``reasoning_tokens`` at top level)."""
    prompt = u.get("prompt_tokens")
    completion = u.get("completion_tokens")
    total = u.get("total_tokens")
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    details = u.get("completion_tokens_details") or {}
    pdetails = u.get("prompt_tokens_details") or {}
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if reasoning is None:
        reasoning = u.get("reasoning_tokens")
    cached = pdetails.get("cached_tokens") if isinstance(pdetails, dict) else None
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        reasoning_tokens=reasoning,
        cached_tokens=cached,
        raw=dict(u),
    )


def bearer_headers(config: ProviderConfig) -> dict[str, Secret]:
    """``Authorization: Bearer`` as a secret header, when a key is configured."""
    if config.api_key is None:
        return {}
    return {"Authorization": Secret("Bearer " + config.api_key.reveal())}


def _detail_message(detail: Any) -> str | None:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(p) for p in item.get("loc", ()))
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts) or None
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("msg") or detail) or None
    return None


def openai_error_from_response(
    status_code: int, headers: Mapping[str, str], body: bytes, provider: str = "openai"
) -> HTTPStatusError:
    """The typed error for an OpenAI-style error response.

    Reads OpenAI's ``{"error": {message, type, param, code}}``, OpenRouter's
    numeric codes, Mistral's flat ``{"object": "error", "message": ...}`` and
    FastAPI's ``{"detail": ...}``; anything else (an HTML page from a proxy)
    keeps its text in ``body``.
    """
    data = decode_error_body(body)
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    message = type_ = code = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            message = err.get("message")
            type_ = err.get("type")
            code = err.get("code")
        elif isinstance(err, str):
            message = err
        elif "detail" in data:
            message = _detail_message(data["detail"])
        elif isinstance(data.get("message"), str):
            message = data["message"]
            type_ = data.get("type")
            code = data.get("code")
    error = build_status_error(
        status_code,
        headers,
        body,
        provider=provider,
        provider_message=message if isinstance(message, str) else None,
        type=type_ if isinstance(type_, str) else None,
        code=code if isinstance(code, (str, int)) else None,
        request_id=data.get("request_id") if isinstance(data, dict) else None,
    )
    if code == "insufficient_quota":
        error.retryable = False
    return error


def _content_parts(content: list[Any]) -> tuple[str | None, str | None]:
    """Text and reasoning from list-form ``content`` (Mistral Magistral)."""
    text: list[str] = []
    reasoning: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            text.append(part["text"])
        elif kind == "thinking":
            inner = part.get("thinking")
            if isinstance(inner, str):
                reasoning.append(inner)
            elif isinstance(inner, list):
                reasoning.extend(
                    p["text"] for p in inner
                    if isinstance(p, dict) and isinstance(p.get("text"), str)
                )
    return ("".join(text) or None), ("".join(reasoning) or None)


class OpenAIChatDecoder:
    """Decodes ``chat.completion.chunk`` events into chunks, one per choice."""

    __slots__ = ("_ids", "_provider", "done")

    def __init__(self, provider: str = "openai") -> None:
        self._provider = provider
        #: tool-call id -> index, for servers that omit ``index``.
        self._ids: dict[str, int] = {}
        #: True once ``[DONE]`` arrived.
        self.done = False

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        if data.startswith("[DONE]"):
            self.done = True
            return []
        obj = event_object(data, self._provider)
        if obj.get("error"):
            raise self._in_band_error(obj["error"])
        choices = obj.get("choices")
        usage_obj = obj.get("usage")
        if type(choices) is list and len(choices) == 1 and not usage_obj:
            # The common event: one choice whose delta is one piece of text.
            choice = choices[0]
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict and len(delta) == 1 and choice.get("finish_reason") is None:
                text = delta.get("content")
                if type(text) is str:
                    return [_new_chunk(Chunk, (
                        text or None, None, (), None, None, None, choice.get("index", 0),
                        obj, None, obj.get("id"), obj.get("model"), choice.get("logprobs"), None,
                    ))]
        usage = openai_usage(usage_obj) if usage_obj else None
        rid = obj.get("id")
        model = obj.get("model")
        if not choices:
            return [Chunk(usage=usage, raw=obj, id=rid, model=model)]
        out = []
        for choice in choices:
            delta = choice.get("delta") or {}
            text = delta.get("content")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or None
            if text is not None and type(text) is not str:
                text, more = _content_parts(text) if isinstance(text, list) else (None, None)
                reasoning = reasoning or more
            native = choice.get("finish_reason")
            tcs = delta.get("tool_calls")
            out.append(
                Chunk(
                    text or None,
                    reasoning if type(reasoning) is str else None,
                    self._tool_calls(tcs, delta) if (tcs or "function_call" in delta) else (),
                    _FINISH.get(native, "other") if native else None,
                    native,
                    usage,
                    choice.get("index", 0),
                    obj,
                    delta.get("refusal"),
                    rid,
                    model,
                    choice.get("logprobs"),
                    delta.get("role"),
                )
            )
            usage = None  # usage belongs to the event, not to each choice
        return out

    def _tool_calls(self, tcs: Any, delta: Mapping[str, Any]) -> tuple[ToolCallDelta, ...]:
        if not tcs:
            fc = delta.get("function_call")
            if not isinstance(fc, dict):
                return ()
            return (ToolCallDelta(0, None, fc.get("name"), fc.get("arguments") or ""),)
        out = []
        for tc in tcs:
            if not isinstance(tc, dict):
                continue
            fn = tc.get("function") or {}
            tid = tc.get("id")
            index = tc.get("index")
            if index is None:
                if tid is not None and tid in self._ids:
                    index = self._ids[tid]
                else:
                    index = len(self._ids)
            if tid is not None:
                self._ids.setdefault(tid, index)
            out.append(
                ToolCallDelta(
                    index,
                    tid,
                    fn.get("name"),
                    fn.get("arguments") or "",
                    tc.get("type") or "function",
                )
            )
        return tuple(out)

    def _in_band_error(self, err: Any) -> ProviderError:
        if isinstance(err, dict):
            message = err.get("message")
            code = err.get("code")
            type_ = err.get("type")
        else:
            message, code, type_ = str(err), None, None
        return ProviderError(
            f"{self._provider} reported an error mid-stream: {message}",
            provider_message=message if isinstance(message, str) else None,
            type=type_ if isinstance(type_, str) else None,
            code=code if isinstance(code, (str, int)) else None,
            provider=self._provider,
        )


class OpenAIChatProvider:
    """``POST {base}/chat/completions`` with ``stream: true``.

    Args:
        name: the model prefix served (``openai``, ``mistral``, ``openrouter``,
            ``openai-compatible``).
        include_usage: ask for the usage chunk (``stream_options``) unless the
            caller set ``stream_options`` itself.
        rename: parameter names this server spells differently
            (Mistral's ``random_seed`` for ``seed``).
        unsupported: parameters this server rejects; passing one is a
            ``ConfigurationError`` before any request.
    """

    framing = "sse"

    def __init__(
        self,
        name: str = "openai",
        *,
        include_usage: bool = True,
        rename: Mapping[str, str] | None = None,
        unsupported: tuple[str, ...] = ("top_k",),
    ) -> None:
        self.name = name
        self._include_usage = include_usage
        self._rename = dict(rename or {})
        self._unsupported = unsupported

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        params = dict(request.params)
        reject_params(self.name, params, self._unsupported)
        params.pop("stream", None)
        for ours, theirs in self._rename.items():
            if ours in params:
                params[theirs] = params.pop(ours)
        body: dict[str, Any] = {"model": config.model, "messages": list(request.messages)}
        body.update(params)
        body["stream"] = True
        if self._include_usage and "stream_options" not in body:
            body["stream_options"] = {"include_usage": True}
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            **config.headers,
        }
        return HTTPRequest(
            "POST",
            config.base_url.rstrip("/") + "/chat/completions",
            body,
            headers,
            bearer_headers(config),
            "sse",
        )

    def new_decoder(self, request: RequestInput) -> OpenAIChatDecoder:
        return OpenAIChatDecoder(self.name)

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        return openai_error_from_response(status_code, headers, body, self.name)
