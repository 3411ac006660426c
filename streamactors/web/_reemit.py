"""Re-emit a stream as ``text/event-stream`` bytes for a web response.

``to_sse`` turns the messages (or chunks) of one stream into the body of an
SSE response, in one of two shapes:

``"openai"``
    What OpenAI's Chat Completions API sends with ``stream: true``, built from
    the normalized chunks (not the provider's raw payloads), so an Anthropic,
    Gemini or Ollama stream comes out as OpenAI chunks any OpenAI client can
    read: a role chunk first for each choice, then content / reasoning /
    tool-call deltas, the finish reason, one usage chunk with ``choices: []``
    when the usage is known, and ``data: [DONE]``. A failed stream ends with
    one ``data: {"error": {...}}`` event and no ``[DONE]``.

``"events"``
    Small named events for browsers (``EventSource`` or ``fetch``):
    ``event: data`` with ``{"text": ...}`` and whichever of ``reasoning``,
    ``tool_calls``, ``finish_reason``, ``index`` the chunk carries;
    ``event: finish`` with the finish reason, usage and timings; or
    ``event: error`` with the error's type and message.

It performs no I/O: it only iterates its source. It lives with the web
pieces because it knows the library's messages and results;
``streamactors.sse.to_sse`` is its public name, loaded on first use. If the
consumer stops early (the browser went away and the web framework closed the
generator) the source stream is cancelled.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Generator, Iterable
from typing import Any, Literal, Protocol

from .._chunk import Chunk, Usage
from .._result import StreamResult
from ..actors._stream import Data, Error, Finish
from ..errors import StreamError
from ..sse._encoder import encode

__all__ = ["SSEFormat", "to_sse", "to_sse_async"]

SSEFormat = Literal["openai", "events"]

#: The last event of a successful OpenAI-format stream.
DONE = b"data: [DONE]\n\n"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _usage_dict(usage: Usage) -> dict[str, Any]:
    out = usage.to_openai()
    if usage.estimated:
        out["estimated"] = True
    return out


def error_body(error: BaseException) -> dict[str, Any]:
    """An OpenAI-style ``{"error": {...}}`` object for ``error``."""
    err_type = getattr(error, "type", None)
    code = getattr(error, "code", None)
    return {
        "error": {
            "message": str(error),
            "type": err_type if isinstance(err_type, str) else _snake(type(error).__name__),
            "param": None,
            "code": code if isinstance(code, (str, int)) else None,
        }
    }


class _Emitter(Protocol):
    def chunk(self, c: Chunk) -> bytes: ...

    def finish(self, result: StreamResult | None) -> bytes: ...

    def error(self, error: BaseException) -> bytes: ...


class _OpenAIEmitter:
    """OpenAI ``chat.completion.chunk`` events, one per normalized chunk."""

    def __init__(self, model: str | None, default_model: str | None,
                 include_usage: bool) -> None:
        self._model = model
        self._default_model = default_model
        self._include_usage = include_usage
        self._head: dict[str, Any] | None = None
        # id / model / created seen before the first emitted chunk (role chunks,
        # usage-only chunks carry them too).
        self._id: str | None = None
        self._seen_model: str | None = None
        self._created: int | None = None
        self._roles_sent: set[int] = set()
        self._usage: Usage | None = None

    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        assert self._head is not None
        return encode(data=_dumps({**self._head, "choices": choices, **extra}))

    def _learn(self, c: Chunk) -> None:
        self._id = self._id or c.id
        self._seen_model = self._seen_model or c.model
        if self._created is None and isinstance(c.raw, dict):
            created = c.raw.get("created")
            self._created = created if isinstance(created, int) else None

    def _start(self) -> None:
        self._head = {
            "id": self._id or f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": self._created if self._created is not None else int(time.time()),
            "model": self._model or self._seen_model or self._default_model or "unknown",
        }

    def chunk(self, c: Chunk) -> bytes:
        if c.usage is not None:
            self._usage = c.usage
        if self._head is None:
            self._learn(c)
        delta: dict[str, Any] = {}
        if c.text:
            delta["content"] = c.text
        if c.reasoning:
            delta["reasoning_content"] = c.reasoning
        if c.refusal:
            delta["refusal"] = c.refusal
        if c.tool_calls:
            delta["tool_calls"] = [_tool_delta(d) for d in c.tool_calls]
        if not delta and c.finish_reason is None:
            return b""
        if self._head is None:
            self._start()
        out = b""
        if c.index not in self._roles_sent:
            self._roles_sent.add(c.index)
            out = self._event([{"index": c.index, "delta": {"role": "assistant", "content": ""},
                                "logprobs": None, "finish_reason": None}])
        logprobs = c.logprobs if isinstance(c.logprobs, dict) else None
        choice = {"index": c.index, "delta": delta, "logprobs": logprobs,
                  "finish_reason": c.finish_reason}
        return out + self._event([choice])

    def finish(self, result: StreamResult | None) -> bytes:
        usage = result.usage if result is not None and result.usage is not None else self._usage
        if not self._include_usage or usage is None:
            return DONE
        if self._head is None:
            self._start()
        return self._event([], usage=_usage_dict(usage)) + DONE

    def error(self, error: BaseException) -> bytes:
        return encode(data=_dumps(error_body(error)))


def _tool_delta(d: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"index": d.index}
    if d.id:
        out["id"] = d.id
        out["type"] = d.type or "function"
    fn: dict[str, Any] = {}
    if d.name:
        fn["name"] = d.name
    fn["arguments"] = d.arguments
    out["function"] = fn
    return out


class _EventsEmitter:
    """Compact ``data`` / ``finish`` / ``error`` events for browsers."""

    def __init__(self) -> None:
        self._usage: Usage | None = None
        self._finish: str | None = None

    def chunk(self, c: Chunk) -> bytes:
        if c.usage is not None:
            self._usage = c.usage
        out: dict[str, Any] = {}
        if c.text:
            out["text"] = c.text
        if c.reasoning:
            out["reasoning"] = c.reasoning
        if c.refusal:
            out["refusal"] = c.refusal
        if c.tool_calls:
            out["tool_calls"] = [
                {"index": d.index, "id": d.id, "name": d.name, "arguments": d.arguments}
                for d in c.tool_calls
            ]
        if c.finish_reason is not None:
            out["finish_reason"] = c.finish_reason
            if c.index == 0:
                self._finish = c.finish_reason
        if not out:
            return b""
        if c.index:
            out["index"] = c.index
        return encode(data=_dumps(out), event_type="data")

    def finish(self, result: StreamResult | None) -> bytes:
        usage = result.usage if result is not None and result.usage is not None else self._usage
        out: dict[str, Any] = {
            "finish_reason": result.finish_reason if result is not None else self._finish,
            "usage": _usage_dict(usage) if usage is not None else None,
        }
        if result is not None:
            out.update(model=result.model, route=result.route,
                       time_to_first_token=result.time_to_first_token,
                       duration=result.duration)
        return encode(data=_dumps(out), event_type="finish")

    def error(self, error: BaseException) -> bytes:
        out: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            out["status_code"] = status
        out["retryable"] = bool(getattr(error, "retryable", False))
        return encode(data=_dumps(out), event_type="error")


def _emitter(source: Any, format: str, model: str | None, include_usage: bool) -> _Emitter:
    if format == "openai":
        name = getattr(getattr(source, "handle", source), "model", None)  # "provider/model"
        default = name.split("/", 1)[-1] if isinstance(name, str) else None
        return _OpenAIEmitter(model, default, include_usage)
    if format == "events":
        return _EventsEmitter()
    raise ValueError(f"format must be 'openai' or 'events', got {format!r}")


def _step(emitter: _Emitter, item: Any) -> tuple[bytes, bool]:
    """The bytes for one source item, and whether the stream ended with it."""
    kind = type(item)
    if kind is Chunk:
        return emitter.chunk(item), False
    if kind is Data:
        return emitter.chunk(item.chunk), False
    if kind is Finish:
        return emitter.finish(item.result), True
    if kind is Error:
        return emitter.error(item.error), True
    raise TypeError(f"to_sse: expected Chunk, Data, Error or Finish, got {kind.__name__}")


def _chunk_stream_result(source: Any, wait: bool = True) -> StreamResult | None:
    """The result of a ``ChunkStream`` (or async one) whose chunks all arrived."""
    handle = getattr(source, "handle", None)
    if handle is None:
        return None
    if not wait:
        result: StreamResult | None = getattr(handle, "result", None)
        return result
    try:
        # Its Finish was already delivered: the worker is recording the result.
        done: StreamResult = handle.wait(1.0)
        return done
    except Exception:
        return None


def to_sse(
    source: Iterable[Any],
    format: SSEFormat = "openai",
    *,
    model: str | None = None,
    include_usage: bool = True,
) -> Generator[bytes, None, None]:
    """The body of an SSE response re-emitting one stream, as it arrives.

    Args:
        source: a ``StreamHandle`` started with ``stream_to=None``, the
            ``ChunkStream`` of ``stream()``, or any iterable of ``Data`` /
            ``Error`` / ``Finish`` messages (or of ``Chunk`` objects).
        format: ``"openai"`` (Chat Completions chunks) or ``"events"``.
        model: the ``model`` field of OpenAI chunks (default: the serving
            model named by the stream).
        include_usage: emit the OpenAI usage chunk when the usage is known.

    Yields bytes, one or two events at a time. Closing the iterator early
    cancels a source that can be cancelled.
    """
    emitter = _emitter(source, format, model, include_usage)
    return _sync(source, emitter)


def _sync(source: Iterable[Any], emitter: _Emitter) -> Generator[bytes, None, None]:
    ended = False
    try:
        try:
            for item in source:
                out, ended = _step(emitter, item)
                if out:
                    yield out
                if ended:
                    return
        except StreamError as exc:  # a ChunkStream raises its stream's error
            ended = True
            yield emitter.error(exc)
            return
        ended = True
        yield emitter.finish(_chunk_stream_result(source))
    finally:
        if not ended:
            _cancel(source)


def _cancel(source: Any) -> None:
    close = getattr(source, "close", None)
    if callable(close):  # ChunkStream.close() cancels; so does closing a generator
        close()
        return
    cancel = getattr(source, "cancel", None)
    if callable(cancel):  # StreamHandle
        cancel()


def to_sse_async(
    source: AsyncIterable[Any],
    format: SSEFormat = "openai",
    *,
    model: str | None = None,
    include_usage: bool = True,
) -> AsyncGenerator[bytes, None]:
    """``to_sse`` for an async source, such as ``streamactors.astream(...)``:
    the same events, as an async iterator of bytes (for ASGI responses)."""
    emitter = _emitter(source, format, model, include_usage)
    return _async(source, emitter)


async def _async(source: AsyncIterable[Any], emitter: _Emitter) -> AsyncGenerator[bytes, None]:
    ended = False
    try:
        try:
            async for item in source:
                out, ended = _step(emitter, item)
                if out:
                    yield out
                if ended:
                    return
        except StreamError as exc:
            ended = True
            yield emitter.error(exc)
            return
        ended = True
        yield emitter.finish(_chunk_stream_result(source, wait=False))
    finally:
        if not ended:
            aclose = getattr(source, "aclose", None)
            if callable(aclose):
                await aclose()
