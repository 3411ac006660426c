"""Where the time of one chunk goes (``python -m benchmarks.run --profile``).

1. Stage costs: the body of a real unpaced stream (as the socket delivers it,
   in 64 KiB reads) replayed through each sans-I/O stage of the hot path, best
   of several rounds, microseconds per chunk.
2. The live pipeline: CPU per chunk of a real stream through the ``callable``
   target (worker thread only) and the ``handler`` target (plus the hand-off
   to the actor thread); their difference is the hand-off.
3. cProfile of the worker thread and of the actor thread while they carry a
   100,000-chunk stream (cProfile slows every Python call down, so read its
   figures as shares, not as absolute costs).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable
from typing import Any

from ._server import ServerProcess, _prebuilt, model_spec

__all__ = ["main", "stage_costs"]

ROUNDS = 5
READ = 65536


def _best(fn: Callable[[], Any], n: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(best / n * 1e6, 3)


def stage_costs(n: int) -> dict[str, float]:
    """Microseconds per chunk of each stage, replaying ``n`` chunks."""
    from streamactors._wire._chunked import Dechunker as _Dechunker
    from streamactors.providers.openai_chat import OpenAIChatDecoder
    from streamactors.sse import SSEDecoder

    body = b"".join(_prebuilt(n, None))
    reads = [body[i : i + READ] for i in range(0, len(body), READ)]
    payload = _Dechunker().feed(body)
    payload_reads = [payload[i : i + READ] for i in range(0, len(payload), READ)]
    events: list[Any] = []
    dec = SSEDecoder()
    for r in payload_reads:
        events.extend(dec.feed(r))
    datas = [(e.data, e.event) for e in events]
    feed = OpenAIChatDecoder("openai").feed
    chunks = [c for d, ev in datas for c in feed(d, ev)]
    return {
        "HTTP de-chunking (_Dechunker.feed)": _best(lambda: _dechunk(reads), n),
        "SSE framing (SSEDecoder.feed)": _best(lambda: _frame(payload_reads), n),
        "codec: from_json + Chunk (OpenAIChatDecoder.feed)": _best(lambda: _decode(datas), n),
        "accumulate (Accumulator.add)": _best(lambda: _accumulate(chunks), n),
        "for scale: the floor's split + json.loads": _best(lambda: _floor_parse(reads), n),
    }


def _dechunk(reads: list[bytes]) -> None:
    from streamactors._wire._chunked import Dechunker as _Dechunker

    d = _Dechunker()
    for r in reads:
        d.feed(r)


def _frame(payload_reads: list[bytes]) -> None:
    from streamactors.sse import SSEDecoder

    s = SSEDecoder()
    for r in payload_reads:
        s.feed(r)


def _decode(datas: list[tuple[str, str]]) -> None:
    from streamactors.providers.openai_chat import OpenAIChatDecoder

    feed = OpenAIChatDecoder("openai").feed
    for d, ev in datas:
        feed(d, ev)


def _accumulate(chunks: list[Any]) -> None:
    from streamactors.accumulate import Accumulator

    add = Accumulator("openai", "m").add
    for c in chunks:
        add(c)


def _floor_parse(reads: list[bytes]) -> None:
    """The floor's whole parse, for scale."""
    import json

    loads = json.loads
    buf = b""
    for r in reads:
        buf = buf + r if buf else r
        parts = buf.split(b"\n\n")
        buf = parts.pop()
        for ev in parts:
            at = ev.find(b"data: ")
            if at >= 0 and ev[at + 6 : at + 7] != b"[":
                loads(ev[at + 6 :])


def _live(url: str, n: int) -> dict[str, float]:
    from ._library import TARGETS

    out = {}
    for name in ("callable", "handler"):
        target = TARGETS[name]()
        target.open(url)
        target.stream(model_spec(2000))
        best = float("inf")
        for _ in range(3):
            c0 = time.process_time()
            target.stream(model_spec(n))
            best = min(best, (time.process_time() - c0) / n * 1e6)
        target.close()
        out[name] = round(best, 2)
    out["hand-off to the actor (handler - callable)"] = round(out["handler"] - out["callable"], 2)
    return out


def _profiled(url: str, n: int, top: int) -> dict[str, str]:
    import streamactors.actors._actor_loop as actor_loop_mod
    import streamactors.actors._worker as worker_mod

    from ._library import TARGETS

    profiles: dict[str, cProfile.Profile] = {}

    def wrap(cls: Any, attr: str, key: str) -> Callable[[], None]:
        original = getattr(cls, attr)

        def run(self: Any) -> None:
            prof = profiles[key] = cProfile.Profile()
            prof.enable()
            try:
                original(self)
            finally:
                prof.disable()

        setattr(cls, attr, run)
        return lambda: setattr(cls, attr, original)

    undo = [wrap(worker_mod.Worker, "_run", "worker thread"),
            wrap(actor_loop_mod._ActorLoop, "run", "actor thread")]
    try:
        # reader="thread": the worker thread itself reads and decodes the body,
        # so its profile is the whole hot path (with the default reactor reader
        # the worker thread only waits while the reactor thread reads).
        target = TARGETS["handler-thread"]()
        target.open(url)
        target.stream(model_spec(n))
        target.close()
    finally:
        for u in undo:
            u()
    out = {}
    for key, prof in profiles.items():
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(top)
        out[key] = buf.getvalue()
    return out


def main(smoke: bool = False) -> None:
    n = 20_000 if smoke else 100_000
    print(f"Stage costs, replaying {n} chunks (best of {ROUNDS}, us per chunk):")
    for name, us in stage_costs(n).items():
        print(f"  {name:55s} {us:7.3f}")
    with ServerProcess() as server:
        print("\nLive pipeline, client CPU per chunk (best of 3):")
        for name, us in _live(server.url, n).items():
            print(f"  {name:55s} {us:7.2f}")
        for key, text in _profiled(server.url, n, 14 if smoke else 22).items():
            print(f"\ncProfile of the {key} ({n} chunks), by own time:")
            lines = [ln for ln in text.splitlines() if ln.strip()]
            print("\n".join(lines[2:]))
