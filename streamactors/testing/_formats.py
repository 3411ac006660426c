"""Shared pieces of the format writers: byte events, framing, error bodies.

A writer turns a ``Script`` into a list of ``Piece`` objects, each the bytes
of one event (one SSE event or one NDJSON line) that the server sends as its
own HTTP chunk. Pieces that carry the script's content (text and reasoning
tokens, tool-call fragments) are marked ``content``: they are what
``Fault.after`` counts and what pacing spaces out. Exactly one piece per
stream is marked ``final``: the first event of the ending, where a mid-stream
fault fires when the script has fewer content pieces than ``Fault.after``.

The writers themselves live in ``_formats_openai`` (Chat Completions, legacy
Completions, Responses) and ``_formats_others`` (Anthropic, Gemini, Ollama).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._script import Fault, Script, ToolCallSpec

__all__ = [
    "Context",
    "ErrorFamily",
    "Piece",
    "WireFormat",
    "error_response",
    "fault_index",
    "html_error_page",
    "parse_arguments",
    "split_arguments",
    "sse",
    "status_word",
    "tool_call_id",
]

ErrorFamily = Literal["openai", "anthropic", "gemini", "ollama"]


@dataclass(frozen=True, slots=True)
class Piece:
    """The bytes of one event, sent as one HTTP chunk."""

    data: bytes
    content: bool = False
    final: bool = False


@dataclass(frozen=True)
class Context:
    """What a writer needs to know about the request it answers.

    Attributes:
        number: 1-based number of the request on this server; makes ids
            unique per request yet deterministic.
        include_usage: the request asked for ``stream_options.include_usage``.
        created: Unix time of the request, repeated in every chunk.
    """

    number: int
    include_usage: bool
    created: int


@dataclass(frozen=True)
class WireFormat:
    """Everything the server needs to speak one provider's stream format.

    Attributes:
        name: short name, for error messages.
        content_type: the streaming response's Content-Type.
        family: which provider's error-body shape and request-id header to use.
        render: the script as pieces.
        error_event: the in-band error for ``error_event``, given the fault,
            the request and how many pieces were already sent.
        malformed: a complete event (or line) whose JSON is broken.
        oversized_prefix: what starts the endless line of ``oversized_event``.
    """

    name: str
    content_type: str
    family: ErrorFamily
    render: Callable[[Script, Context], list[Piece]]
    error_event: Callable[[Fault, Context, int], bytes]
    malformed: bytes
    oversized_prefix: bytes


def fault_index(pieces: list[Piece], after: int) -> int:
    """The index of the piece a mid-stream fault fires before.

    That is content piece number ``after`` (0-based), or the first piece of
    the ending when the script has no more than ``after`` content pieces.
    """
    seen = 0
    for i, piece in enumerate(pieces):
        if piece.content:
            if seen == after:
                return i
            seen += 1
        elif piece.final:
            return i
    return len(pieces)


def compact(obj: Any) -> str:
    """JSON the way OpenAI and Anthropic write it: no spaces."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse(payload: Any, event: str | None = None, *, text: str | None = None) -> bytes:
    """One LF-framed SSE event; ``text`` overrides the JSON of ``payload``."""
    data = compact(payload) if text is None else text
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {data}\n\n".encode()


def tool_call_id(call: ToolCallSpec, index: int, prefix: str) -> str:
    """The call's own id, or a deterministic one from its position."""
    return call.id if call.id is not None else f"{prefix}_{index + 1:04d}"


def split_arguments(arguments: str) -> list[str]:
    """Cut the arguments JSON text into up to three non-empty pieces."""
    count = min(3, len(arguments))
    if count == 0:
        return []
    step = -(-len(arguments) // count)
    return [arguments[i : i + step] for i in range(0, len(arguments), step)]


def parse_arguments(arguments: str) -> Any:
    """The arguments as an object for formats that send them whole.

    Invalid JSON (a script testing a client's error path) is sent as the raw
    string rather than repaired.
    """
    if not arguments:
        return {}
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def format_seconds(value: float) -> str:
    """Seconds for a header: ``2`` rather than ``2.0``, ``0.25`` as is."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_GEMINI_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def openai_error_object(status: int, message: str) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-style error for ``status``."""
    default = ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    kind, code = _OPENAI_ERRORS.get(status, default)
    return {"message": message, "type": kind, "param": None, "code": code}


def anthropic_error_type(status: int) -> str:
    """Anthropic's ``error.type`` for ``status``."""
    default = "api_error" if status >= 500 else "invalid_request_error"
    return _ANTHROPIC_ERRORS.get(status, default)


def status_word(status: int) -> str:
    """Google's canonical status name for an HTTP status."""
    return _GEMINI_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")


def request_id_headers(family: ErrorFamily, number: int) -> dict[str, str]:
    """The request-id header each provider family sends on every response."""
    if family == "openai":
        return {"x-request-id": f"req_test_{number}"}
    if family == "anthropic":
        return {"request-id": f"req_test_{number}"}
    return {}


def error_response(
    family: ErrorFamily, status: int, message: str, number: int, retry_after: float | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and JSON body of an HTTP error in the family's own shape."""
    headers = {"content-type": "application/json", **request_id_headers(family, number)}
    if retry_after is not None:
        headers["retry-after"] = format_seconds(retry_after)
    body: dict[str, Any]
    if family == "openai":
        body = {"error": openai_error_object(status, message)}
    elif family == "anthropic":
        body = {
            "type": "error",
            "error": {"type": anthropic_error_type(status), "message": message},
            "request_id": f"req_test_{number}",
        }
    elif family == "gemini":
        error: dict[str, Any] = {"code": status, "message": message, "status": status_word(status)}
        if retry_after is not None:
            retry_info = {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{format_seconds(retry_after)}s",
            }
            error["details"] = [retry_info]
        body = {"error": error}
    else:
        body = {"error": message}
    return headers, json.dumps(body, indent=2 if family == "gemini" else None).encode()


def html_error_page(status_line: str = "502 Bad Gateway") -> bytes:
    """What a proxy in front of a provider answers when it gives up."""
    return (
        "<!DOCTYPE html>\n<html>\n<head><title>"
        f"{status_line}</title></head>\n<body>\n<center><h1>{status_line}</h1></center>\n"
        "<hr><center>loopback-proxy</center>\n</body>\n</html>\n"
    ).encode()
