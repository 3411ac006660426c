"""Structured output over a real socket: what partial values cost a stream.

A loopback server (its own process, so its CPU is not counted) streams a
JSON answer (``bench_partial_json.document``) in deltas of 33 characters,
unpaced, in OpenAI's chat format. The client process's CPU per answer
(``time.process_time``: every thread) for:

* ``stream``: ``stream()`` without ``response_format``, the chunks iterated
  (the same stream without partials);
* ``stream+model``: ``response_format=Book``, chunks iterated, the answer
  validated once at the end into ``result.parsed``;
* ``partials``: ``response_format=Book``, every step of ``partials()`` taken
  (a ``Book``-shaped value per delta) and ``result.parsed``;
* ``openai``: openai-python's ``chat.completions.create(stream=True)``, chunks
  iterated; ``openai-parse``: its ``chat.completions.stream(response_format=Book)``,
  every event iterated (it re-parses the whole text with jiter on each delta)
  and ``get_final_completion()`` (only when openai is installed).

Rounds alternate the contenders; medians (a sample of a 1 KB answer is the
mean of 50 answers). Run with
``python -m benchmarks.bench_structured`` (``--sizes 1000,100000 --rounds 5``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import streamactors as sa
from benchmarks.bench_partial_json import Book, deltas, document

MSGS = [{"role": "user", "content": "A recipe book, as JSON"}]
#: how many values each ``partials()`` loop took (it takes one per step: the
#: deltas that arrived while the consumer was busy are read together)
STEPS: list[int] = []


def _serve(size: int, conn: Connection) -> None:
    from streamactors.testing import LoopbackServer, Script

    text = document(size)
    with LoopbackServer(Script(text=text, tokens=deltas(text))) as server:
        conn.send(server.url("openai"))
        conn.recv()  # until told to stop


def contenders(url: str) -> dict[str, Callable[[], Any]]:
    client = sa.Client(base_url=url, api_key="sk-bench", max_retries=0)

    def plain() -> Any:
        s = client.stream("openai/bench", MSGS)
        for _ in s:
            pass
        return s.result

    def with_model() -> Any:
        s = client.stream("openai/bench", MSGS, response_format=Book)
        for _ in s:
            pass
        assert s.result is not None
        return s.result.parsed

    def partials() -> Any:
        s = client.stream("openai/bench", MSGS, response_format=Book)
        STEPS.append(sum(1 for _ in s.partials()))
        assert s.result is not None
        return s.result.parsed

    found: dict[str, Callable[[], Any]] = {
        "stream": plain, "stream+model": with_model, "partials": partials}
    found.update(_openai(url))
    return found


def _openai(url: str) -> dict[str, Callable[[], Any]]:
    try:
        import openai
    except ImportError:
        return {}
    peer = openai.OpenAI(base_url=url, api_key="sk-bench", max_retries=0)

    def openai_plain() -> Any:
        for _ in peer.chat.completions.create(model="bench", messages=MSGS,  # type: ignore[arg-type]
                                              stream=True):
            pass

    def openai_parse() -> Any:
        with peer.chat.completions.stream(model="bench", messages=MSGS,  # type: ignore[arg-type]
                                          response_format=Book) as events:
            for _ in events:
                pass
            return events.get_final_completion().choices[0].message.parsed

    return {"openai": openai_plain, "openai-parse": openai_parse}


def measure(size: int, rounds: int) -> dict[str, float]:
    """Median client CPU milliseconds per answer, for each contender."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(size, child), daemon=True)
    server.start()
    try:
        url = parent.recv()
        runs: dict[str, list[float]] = {}
        named = contenders(url)
        expected = Book.model_validate_json(document(size))
        for warm_up in named.values():  # imports, connections
            warm_up()
        STEPS.clear()
        repeat = max(1, 50_000 // size)  # a sample of small answers is many answers
        for r in range(rounds):
            order = list(named.items()) if r % 2 == 0 else list(reversed(named.items()))
            for name, fn in order:
                start = time.process_time()
                for _ in range(repeat):
                    got = fn()
                runs.setdefault(name, []).append((time.process_time() - start) * 1e3 / repeat)
                if name in ("stream+model", "partials", "openai-parse") and got != expected:
                    raise AssertionError(f"{name} read the answer wrong")
        return {name: statistics.median(ms) for name, ms in runs.items()}
    finally:
        parent.send("stop")
        server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"client CPU per answer, medians of {args.rounds} rounds")
    print("| answer | deltas | contender | CPU ms | µs per delta | ÷ stream |")
    print("|---:|---:|---|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        n = len(deltas(document(size)))
        STEPS.clear()
        result = measure(size, args.rounds)
        steps = statistics.median(STEPS)
        base = result["stream"]
        for name, ms in result.items():
            print(f"| {size:,} | {n:,} | {name} | {ms:.2f} | {ms * 1e3 / n:.1f} | "
                  f"{ms / base:.2f} |")
        print(f"| {size:,} | | (partials took {steps:.0f} values per answer) | | | |")


if __name__ == "__main__":
    main()
