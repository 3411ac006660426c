"""The body the relay writes for one stream: OpenAI chunks as SSE events, in
HTTP chunked framing, and a ``: keep-alive`` comment after each
``keepalive`` seconds of upstream silence, so that proxies and clients that
drop quiet connections keep this one (an SSE comment is ignored by every
client)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any

from ..actors._stream import Error, Finish, Message, StreamHandle
from ..errors import ConfigurationError
from ._reemit import _emitter, _step

__all__ = ["KEEPALIVE", "check_keepalive", "first_message", "overhead_ms", "write_stream"]

KEEPALIVE = b": keep-alive\n\n"


def check_keepalive(seconds: object) -> float | None:
    """``seconds`` if a positive finite number or None, else a
    ``ConfigurationError`` naming the field."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not 0 < seconds < math.inf:
        raise ConfigurationError(
            f"keepalive must be a positive number of seconds, or None for no keep-alive "
            f"comments; got {seconds!r}")
    return float(seconds)


def overhead_ms(received: float, handle: StreamHandle) -> str:
    """The ``x-streamactors-overhead-ms`` header: the relay's own time to
    first byte (from ``received``, a ``perf_counter`` time) over the
    upstream's time to its first chunk, in milliseconds."""
    relay_ttfb = perf_counter() - received
    upstream = handle._first_chunk if handle._first_chunk is not None else relay_ttfb
    return f"{max(0.0, relay_ttfb - upstream) * 1000:.1f}"


def first_message(messages: Iterator[Message | None]) -> Message:
    """The stream's first message (its HTTP status depends on it: nothing is
    sent before, so silence needs no keep-alive yet)."""
    for message in messages:
        if message is not None:
            return message
    raise RuntimeError("the stream ended without a terminal message")  # never: one always comes


def write_stream(write: Callable[[bytes], Any], handle: StreamHandle, first: Message,
                 messages: Iterator[Message | None], include_usage: bool) -> None:
    """Write the events of ``first`` and the rest of ``messages`` (None: a
    silence), then the end of the chunked body."""
    emitter = _emitter(handle, "openai", None, include_usage)
    item: Message | None = first
    while True:
        if item is None:
            out, ended = KEEPALIVE, False
        else:
            out, ended = _step(emitter, item)
        if out:
            write(b"%x\r\n%s\r\n" % (len(out), out))
        if ended or isinstance(item, (Error, Finish)):
            break
        item = next(messages)
    write(b"0\r\n\r\n")
