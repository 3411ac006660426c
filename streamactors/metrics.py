"""Per-stream metrics: one ``StreamMetrics`` record for every finished stream.

Every stream, whether it finished or failed, ends with exactly one record
handed to each listener registered with ``add_listener``. Listeners run on
the thread that ends the stream (its own thread, or a connector thread for a
stream without one) just before its terminal message is delivered, so they
should be quick (append to a list, bump a counter, hand off to a metrics
client); an exception in one is logged and swallowed and never affects the
stream.

When the provider sent no token counts the worker fills an estimated
``Usage`` (``estimated=True``): about four characters per token, counted over
the answer (text, reasoning, tool-call arguments) and over the prompt's text.
It is a rough figure for dashboards and rate estimates, not for billing.

Example::

    from streamactors import metrics

    records = []
    remove = metrics.add_listener(records.append)
    ...
    remove()
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from ._chunk import Usage
from ._gaps import GapSummary
from ._result import StreamResult

if TYPE_CHECKING:
    from .actors._stream import StreamHandle
    from .errors import StreamError

__all__ = ["CHARS_PER_TOKEN", "REQUEST_PARAMS", "Listener", "StreamEvent", "StreamMetrics",
           "add_listener", "estimate_usage"]

log = logging.getLogger("streamactors")

#: The characters-per-token ratio of the usage estimate.
CHARS_PER_TOKEN = 4


class StreamEvent(NamedTuple):
    """A retry or a router fallback during a stream.

    Attributes:
        kind: ``"retry"`` or ``"fallback"``.
        at: seconds from the stream's first request.
        error_type: the class of the error that caused it.
        detail: for a fallback, the route it moved to; for a retry, the
            attempt number (``"1"`` for the first retry).
    """

    kind: str
    at: float
    error_type: str
    detail: str


@dataclass(frozen=True, slots=True)
class StreamMetrics:
    """What one finished stream cost and how fast it went.

    Attributes:
        stream_id: the handle's id (``"stream-42"``).
        model: the ``provider/model`` that served (or last tried) the stream.
        provider: its provider prefix.
        route: the router route that served it, or None without a router.
        ok: True when the stream ended with ``Finish``.
        error_type: the error's class name (``"ReadTimeout"``) when it failed.
        time_to_first_token: seconds from the request to the first chunk.
        duration: seconds from the request to the end.
        chunks: chunks delivered.
        prompt_tokens, completion_tokens: token counts (None when unknown).
        estimated: True when the counts are estimates (the provider sent none).
        tokens_per_second: completion tokens per second after the first one.
        retries: retries made before data flowed.
        operation: ``"chat"`` or ``"text_completion"`` (``complete()``).
        request_params: the request's sampling fields, as given (temperature,
            top_p, top_k, max_tokens, max_completion_tokens, stop, seed, n,
            frequency_penalty, presence_penalty): what telemetry reports.
        response_id, response_model: as the provider sent them.
        finish_reasons: the normalized finish reason of each choice that had one.
        cached_tokens, reasoning_tokens: from the provider's usage, if given.
        server_address, server_port: the host the request went to.
        gaps: the gaps between its deliveries of content (``GapSummary``:
            p50, p99, max, stalls), None before the second.
        events: its retries and router fallbacks, in order.
    """

    stream_id: str
    model: str
    provider: str | None
    route: str | None
    ok: bool
    error_type: str | None
    time_to_first_token: float | None
    duration: float | None
    chunks: int
    prompt_tokens: int | None
    completion_tokens: int | None
    estimated: bool
    tokens_per_second: float | None
    retries: int
    operation: str = "chat"
    request_params: Mapping[str, Any] = field(default_factory=dict)
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: tuple[str, ...] = ()
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    server_address: str | None = None
    server_port: int | None = None
    gaps: GapSummary | None = None
    events: tuple[StreamEvent, ...] = ()


Listener = Callable[[StreamMetrics], Any]

_lock = threading.Lock()
# Copy-on-write: the worker reads the tuple without taking the lock.
_listeners: tuple[_Registration, ...] = ()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def add_listener(fn: Listener) -> Callable[[], None]:
    """Call ``fn(record)`` once for every stream that ends from now on.

    ``fn`` runs on the thread that ends the stream; exceptions it raises are
    logged and swallowed. Returns a function that removes the listener
    (calling it twice is harmless). Adding the same function twice makes
    it be called twice.
    """
    global _listeners
    if not callable(fn):
        raise TypeError(f"a metrics listener must be callable, got {fn!r}")
    token = _Registration(fn)
    with _lock:
        _listeners = (*_listeners, token)

    def remove() -> None:
        global _listeners
        with _lock:
            _listeners = tuple(t for t in _listeners if t is not token)

    return remove


class _Registration:
    """One ``add_listener`` call (so the same function can be added twice)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Listener) -> None:
        self.fn = fn

    def __call__(self, record: StreamMetrics) -> Any:
        return self.fn(record)


def _chars(texts: Iterable[str | None]) -> int:
    return sum(len(t) for t in texts if t)


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)  # ceil: one character is still a token


def _prompt_chars(messages: Iterable[Mapping[str, Any]], prompt: str | None) -> int:
    total = len(prompt) if prompt else 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    total += len(part["text"])
                elif isinstance(part, str):
                    total += len(part)
    return total


def estimate_usage(
    result: StreamResult,
    messages: Iterable[Mapping[str, Any]] = (),
    prompt: str | None = None,
) -> Usage:
    """An estimated ``Usage`` (``estimated=True``) for ``result``.

    About one token per ``CHARS_PER_TOKEN`` characters of the answer (text,
    reasoning, refusal and tool-call arguments of every choice) and of the
    prompt (the text parts of ``messages``, or ``prompt``).
    """
    out = 0
    for c in result.choices:
        out += _chars((c.text, c.reasoning, c.refusal))
        out += _chars(tc.arguments for tc in c.tool_calls)
    completion = _tokens(out)
    prompt_tokens = _tokens(_prompt_chars(messages, prompt))
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        total_tokens=prompt_tokens + completion,
        estimated=True,
    )


#: The request fields the GenAI conventions report (``gen_ai.request.*``).
REQUEST_PARAMS = ("temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens",
                  "stop", "seed", "n", "frequency_penalty", "presence_penalty")


def _server(url: str | None) -> tuple[str | None, int | None]:
    if not url:
        return None, None
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.hostname, port


def _record(
    handle: StreamHandle, model: str, provider: str | None, request: Any,
    result: StreamResult, error: StreamError | None, url: str | None,
    events: Iterable[StreamEvent],
) -> StreamMetrics:
    usage = result.usage
    params = getattr(request, "params", {})
    address, port = _server(url)
    return StreamMetrics(
        stream_id=handle.id,
        model=model,
        provider=provider,
        route=result.route,
        ok=error is None,
        error_type=type(error).__name__ if error is not None else None,
        time_to_first_token=result.time_to_first_token,
        duration=result.duration,
        chunks=result.chunks,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
        estimated=usage.estimated if usage is not None else False,
        tokens_per_second=result.output_tokens_per_second,
        retries=result.retries,
        operation="text_completion" if getattr(request, "kind", "chat") == "completion"
        else "chat",
        request_params={k: params[k] for k in REQUEST_PARAMS if params.get(k) is not None},
        response_id=result.id,
        response_model=result.model,
        finish_reasons=tuple(c.finish_reason for c in result.choices if c.finish_reason),
        cached_tokens=usage.cached_tokens if usage is not None else None,
        reasoning_tokens=usage.reasoning_tokens if usage is not None else None,
        server_address=address,
        server_port=port,
        gaps=result.gaps,
        events=tuple(events),
    )


def stream_ended(
    handle: StreamHandle,
    model: str,
    provider: str | None,
    request: Any,
    result: StreamResult,
    error: StreamError | None,
    url: str | None = None,
    events: Iterable[StreamEvent] = (),
) -> StreamResult:
    """Called by the worker once per stream, before its terminal message.

    Returns ``result`` with an estimated usage when the provider sent none
    and something was received, after telling every listener. Never raises:
    a failure here is logged and the result is returned unchanged.
    """
    try:
        if result.usage is None and result.chunks:
            usage = estimate_usage(
                result, getattr(request, "messages", ()), getattr(request, "prompt", None)
            )
            result = result.model_copy(update={"usage": usage})
        listeners = _listeners
        if not listeners:
            return result
        record = _record(handle, model, provider, request, result, error, url, events)
    except Exception:
        log.error("%s: could not compute the stream's metrics", handle.id, exc_info=True)
        return result
    for fn in listeners:
        try:
            fn(record)
        except Exception:
            log.error("%s: metrics listener %r raised", handle.id, fn.fn, exc_info=True)
    return result
