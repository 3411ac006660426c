"""What the OpenAI-family codecs share: the bearer header, error responses,
usage objects and finish reasons.

Chat Completions, legacy Completions and the Responses API (and every server
that copies them) authenticate, report HTTP errors and count tokens alike;
the readers here tolerate the copies' quirks (missing totals, Mistral's flat
error body, FastAPI's ``detail``) but turn a value of the wrong JSON type into
a ``ProtocolError`` naming the field, never a ``TypeError`` later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._chunk import Usage
from ..errors import HTTPStatusError
from ._base import ProviderConfig, Secret, build_status_error, decode_error_body, wrong_shape

__all__ = [
    "FINISH",
    "bearer_headers",
    "count",
    "openai_error_from_response",
    "openai_finish_reason",
    "openai_usage",
]

#: OpenAI-family finish reasons (and the copies' spellings) -> normalized.
FINISH = {
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
    return FINISH.get(native, "other")


def count(obj: Mapping[str, Any], key: str, provider: str, where: str) -> int | None:
    """The token count ``obj[key]`` (None when absent or null); a
    ``ProtocolError`` naming ``where.key`` when it is not an integer."""
    value = obj.get(key)
    if value is None or type(value) is int:
        return value
    raise wrong_shape(provider, f"{where}.{key}", value, "an integer")


def _details(u: Mapping[str, Any], key: str, provider: str) -> Mapping[str, Any]:
    value = u.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        raise wrong_shape(provider, f"usage.{key}", value, "an object")
    return value


def openai_usage(u: Any, provider: str = "openai") -> Usage:
    """A ``Usage`` from an OpenAI-style usage object (tolerating the quirks of
    compatible servers: missing totals, ``reasoning_tokens`` at top level).

    Raises:
        ProtocolError: ``u`` is not an object, or a count is not an integer.
    """
    if type(u) is not dict:
        raise wrong_shape(provider, "usage", u, "an object")
    prompt = count(u, "prompt_tokens", provider, "usage")
    completion = count(u, "completion_tokens", provider, "usage")
    total = count(u, "total_tokens", provider, "usage")
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    where = "usage.completion_tokens_details"
    reasoning = count(_details(u, "completion_tokens_details", provider), "reasoning_tokens",
                      provider, where)
    if reasoning is None:
        reasoning = count(u, "reasoning_tokens", provider, "usage")
    cached = count(_details(u, "prompt_tokens_details", provider), "cached_tokens", provider,
                   "usage.prompt_tokens_details")
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
    rid = data.get("request_id") if isinstance(data, dict) else None
    error = build_status_error(
        status_code,
        headers,
        body,
        provider=provider,
        provider_message=message if isinstance(message, str) else None,
        type=type_ if isinstance(type_, str) else None,
        code=code if isinstance(code, (str, int)) else None,
        request_id=rid if isinstance(rid, str) else None,
    )
    if code == "insufficient_quota":
        error.retryable = False
    return error
