"""What decoding one chunk costs, by codec: is a full pydantic validation
affordable on the hot path?

Each codec turns the ``data`` of one OpenAI ``chat.completion.chunk`` event
(about 330 bytes of JSON) into something user code can read. Results are not
kept (keeping 100,000 dicts alive makes the cyclic GC dominate the figure);
the best of several rounds is reported, in microseconds per chunk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ._server import event_payload

__all__ = ["measure"]

ROUNDS = 5


def _events(n: int) -> list[str]:
    return [
        (event_payload("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", i, False) + b"12345.678901}")[
            6:
        ].decode()
        for i in range(n)
    ]


def _best(fn: Callable[[Any], Any], items: list[Any]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return round(best / len(items) * 1e6, 3)


def _small_model() -> Any:
    from pydantic import BaseModel

    class Delta(BaseModel):
        role: str | None = None
        content: str | None = None

    class Choice(BaseModel):
        index: int = 0
        delta: Delta
        finish_reason: str | None = None
        logprobs: Any = None

    class ChunkModel(BaseModel):
        id: str
        object: str
        created: int
        model: str
        system_fingerprint: str | None = None
        choices: list[Choice]

    return ChunkModel


def measure(n: int) -> dict[str, Any]:
    """Microseconds per chunk for each codec (None: not installed)."""
    import pydantic_core

    datas = _events(n)
    raw = [d.encode() for d in datas]
    out: dict[str, Any] = {}
    out["json.loads(str)"] = _best(json.loads, datas)
    out["json.loads(bytes)"] = _best(json.loads, raw)
    out["pydantic_core.from_json(str)"] = _best(pydantic_core.from_json, datas)
    out["pydantic_core.from_json(bytes)"] = _best(pydantic_core.from_json, raw)
    model = _small_model()
    out["pydantic model_validate_json (5-field model)"] = _best(model.model_validate_json, raw)
    parsed = [json.loads(d) for d in datas[:5000]]
    out["pydantic model_validate(dict) (5-field model)"] = _best(model.model_validate, parsed)
    try:
        import openai
        from openai.types.chat import ChatCompletionChunk

        out["openai ChatCompletionChunk.model_validate_json"] = _best(
            ChatCompletionChunk.model_validate_json, raw[: max(1000, n // 5)])
        client = openai.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1")
        process = client._process_response_data

        def sdk(obj: Any) -> Any:  # what the SDK's Stream does per event, after json
            return process(data=obj, cast_to=ChatCompletionChunk, response=None)  # type: ignore[arg-type]

        out["openai SDK per-event object building (after json)"] = _best(sdk, parsed)
    except Exception as exc:  # not installed, or an SDK whose internals moved
        out["openai ChatCompletionChunk.model_validate_json"] = None
        out["openai_note"] = f"{type(exc).__name__}: {exc}"[:120]
    out.update(_library_codec(datas))
    return out


def _library_codec(datas: list[str]) -> dict[str, Any]:
    """streamactors' own codec (its parser is pydantic_core.from_json with a
    json.loads fallback) and, for scale, the JSON parse alone."""
    from streamactors.providers import openai_chat
    from streamactors.providers._base import loads_event

    feed = openai_chat.OpenAIChatDecoder("openai").feed
    return {
        "streamactors OpenAIChatDecoder.feed (from_json + Chunk)": _best(feed, datas),
        "streamactors loads_event (the parse alone)": _best(loads_event, datas),
    }
