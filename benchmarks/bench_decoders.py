"""Microbenchmark of the sans-I/O stream decoders (prints microseconds per event).

Feeds 100,000 OpenAI-like SSE events and 100,000 Ollama-like NDJSON lines to
``SSEDecoder`` and ``NDJSONDecoder`` in 64 KiB slices, the way a socket read
loop would, and reports the best of a few runs. Run with
``python benchmarks/bench_decoders.py``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from streamactors.ndjson import NDJSONDecoder
from streamactors.sse import SSEDecoder

N_EVENTS = 100_000
READ_SIZE = 64 * 1024
ROUNDS = 5


def openai_stream(n: int) -> bytes:
    """An OpenAI chat stream of ``n`` content chunks (~200 bytes of JSON each)."""
    parts = []
    for i in range(n):
        chunk = {
            "id": "chatcmpl-AB3xYzQ9kLmNoPqRsTuVwXyZ0123",
            "object": "chat.completion.chunk",
            "created": 1727000000 + i // 1000,
            "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_e2bde53e6e",
            "choices": [
                {"index": 0, "delta": {"content": f" tok{i % 97}"},
                 "logprobs": None, "finish_reason": None}
            ],
        }
        parts.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def ollama_stream(n: int) -> bytes:
    """An Ollama /api/chat stream of ``n`` lines (~200 bytes each)."""
    parts = []
    for i in range(n):
        line = {
            "model": "qwen3:latest",
            "created_at": f"2025-06-05T00:31:30.{i:09d}Z",
            "message": {"role": "assistant", "content": f" tok{i % 97}"},
            "done": False,
        }
        parts.append(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    return b"".join(parts)


def slices(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def best_us_per_item(run: Callable[[], int], items: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        got = run()
        elapsed = time.perf_counter() - start
        assert got == items, (got, items)
        best = min(best, elapsed)
    return best / items * 1e6


def main() -> None:
    sse_body = openai_stream(N_EVENTS)
    sse_reads = slices(sse_body, READ_SIZE)
    sse_crlf_reads = slices(sse_body.replace(b"\n", b"\r\n"), READ_SIZE)
    nd_body = ollama_stream(N_EVENTS)
    nd_reads = slices(nd_body, READ_SIZE)

    def run_sse(reads: list[bytes]) -> Callable[[], int]:
        def run() -> int:
            decoder = SSEDecoder()
            count = 0
            for read in reads:
                count += len(decoder.feed(read))
            return count + len(decoder.close())

        return run

    def run_ndjson() -> int:
        decoder = NDJSONDecoder()
        count = 0
        for read in nd_reads:
            count += len(decoder.feed(read))
        return count + len(decoder.close())

    def run_baseline() -> int:
        # The floor the brief names: one split and one decode per event.
        count = 0
        for block in sse_body.split(b"\n\n")[:-1]:
            block[6:].decode("utf-8", "replace")
            count += 1
        return count

    events = N_EVENTS + 1
    rows = [
        (f"{events} SSE events of ~{len(sse_body) / events:.0f} bytes, "
         f"{READ_SIZE // 1024} KiB reads", None, events),
        ("  split+decode floor", run_baseline, events),
        ("  SSEDecoder (LF)", run_sse(sse_reads), events),
        ("  SSEDecoder (CRLF)", run_sse(sse_crlf_reads), events),
        (f"{N_EVENTS} NDJSON lines of ~{len(nd_body) / N_EVENTS:.0f} bytes", None, N_EVENTS),
        ("  NDJSONDecoder", run_ndjson, N_EVENTS),
    ]
    for label, run, items in rows:
        if run is None:
            print(label)
        else:
            print(f"{label:<22}{best_us_per_item(run, items):7.3f} us/item")

if __name__ == "__main__":
    main()
