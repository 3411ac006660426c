"""Wrong-shape mutations of recorded provider events, shared by the shape
fuzzers: decode a recorded stream into (event name, JSON value) pairs, list
every path inside a value, replace the value at one path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamactors.ndjson import NDJSONDecoder
from streamactors.sse import SSEDecoder

__all__ = ["paths", "recorded_events", "replace"]


def recorded_events(path: Path) -> list[tuple[str, Any]]:
    """(event name, decoded JSON) of every event of a recorded stream
    (``[DONE]`` stays a string)."""
    body = path.read_bytes()
    if path.suffix == ".ndjson":
        framer = NDJSONDecoder()
        return [("message", json.loads(line)) for line in framer.feed(body) + framer.close()]
    out: list[tuple[str, Any]] = []
    decoder = SSEDecoder()
    for ev in decoder.feed(body) + decoder.close():
        try:
            out.append((ev.event, json.loads(ev.data)))
        except ValueError:
            out.append((ev.event, ev.data))
    return out


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path``."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = replace(value[head], rest, new)
    return copy
