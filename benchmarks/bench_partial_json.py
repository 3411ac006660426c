"""Partial JSON while it streams: ``PartialJSON`` against re-parsing.

A structured answer (a JSON document of recipes, compact as models write it)
arrives in deltas of about 33 characters, as a model streams it. After each
delta every contender produces the partial value:

* ``PartialJSON``: ``feed(delta)`` then ``value`` (each delta read once);
* ``reparse-pydantic-core``: ``pydantic_core.from_json(buffer, allow_partial=True)``
  on the whole text so far (jiter's partial mode, as pydantic exposes it);
* ``reparse-jiter``: ``jiter.from_json(buffer.encode(), partial_mode=True)``, what
  openai-python's ``chat.completions.stream(response_format=...)`` does per
  delta (only when the ``jiter`` package is installed; openai depends on it);
* ``model-partials``: what ``partials()`` does when the consumer takes every
  delta (a paced stream): ``PartialJSON`` plus a ``Book``-shaped value per delta;
* ``no-partials``: only keep the deltas and ``json.loads`` the text at the end
  (the floor: what a stream without partials pays for the JSON).

Rounds alternate the contenders; the table shows medians. Run with
``python -m benchmarks.bench_partial_json`` (``--sizes 1000,100000``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from pydantic import BaseModel
from pydantic_core import from_json

from streamactors._chunk import Chunk
from streamactors._output import output_spec
from streamactors._partials import PartialOutput
from streamactors.partial_json import PartialJSON

DELTA_CHARS = 33
ROUNDS = 5
WORDS = ("the quick brown fox jumps over a lazy dog while cooking pasta with garlic and"
         " olive oil then salt it").split()


class Recipe(BaseModel):
    name: str
    minutes: int
    rating: float
    vegetarian: bool
    steps: list[str]
    notes: str | None


class Book(BaseModel):
    """The shape of ``document()``."""

    title: str
    recipes: list[Recipe]


def document(size: int, seed: int = 1) -> str:
    """A compact JSON answer of about ``size`` characters."""
    rng = random.Random(seed)

    def words(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    recipes: list[dict[str, Any]] = []
    doc = {"title": words(6), "recipes": recipes}
    while len(json.dumps(doc, separators=(",", ":"))) < size:
        recipes.append({"name": words(4), "minutes": rng.randint(5, 90),
                        "rating": round(rng.random() * 5, 2), "vegetarian": rng.random() < 0.5,
                        "steps": [words(rng.randint(3, 12)) for _ in range(3)], "notes": None})
    return json.dumps(doc, separators=(",", ":"))


def deltas(text: str) -> list[str]:
    return [text[i:i + DELTA_CHARS] for i in range(0, len(text), DELTA_CHARS)]


def ours(pieces: list[str]) -> Any:
    parser = PartialJSON()
    for piece in pieces:
        parser.feed(piece)
        parser.value  # noqa: B018 - the partial value a consumer reads
    return parser.finish()


def model_partials(pieces: list[str]) -> Any:
    partial = PartialOutput(output_spec(Book))
    value = None
    for piece in pieces:
        partial.add(Chunk(text=piece))
        grown = partial.step()
        if grown:
            value = grown[0]
    return value


def reparsing(parse: Callable[[str], Any]) -> Callable[[list[str]], Any]:
    """A contender that parses the whole text so far after each delta."""

    def reparse(pieces: list[str]) -> Any:
        text = ""
        value = None
        for piece in pieces:
            text += piece
            value = parse(text)
        return value

    return reparse


def no_partials(pieces: list[str]) -> Any:
    kept = []
    for piece in pieces:
        kept.append(piece)
    return json.loads("".join(kept))


def contenders() -> dict[str, Callable[[list[str]], Any]]:
    found: dict[str, Callable[[list[str]], Any]] = {
        "PartialJSON": ours, "model-partials": model_partials,
        "reparse-pydantic-core": reparsing(lambda text: from_json(text, allow_partial=True)),
        "no-partials": no_partials}
    try:
        import jiter
    except ImportError:
        return found

    found["reparse-jiter"] = reparsing(
        lambda text: jiter.from_json(text.encode(), partial_mode=True))
    return found


def measure(size: int, rounds: int) -> dict[str, float]:
    """Median milliseconds per whole answer, for each contender."""
    text = document(size)
    pieces = deltas(text)
    expected = json.loads(text)
    runs: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, fn in contenders().items():
            start = time.perf_counter()
            got = fn(pieces)
            runs.setdefault(name, []).append((time.perf_counter() - start) * 1e3)
            if got != (expected if name != "model-partials" else Book.model_validate(expected)):
                raise AssertionError(f"{name} read the answer wrong")
    return {name: statistics.median(ms) for name, ms in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="answer sizes in characters, comma-separated")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    print(f"deltas of {DELTA_CHARS} characters; medians of {args.rounds} rounds (ms per answer)")
    print("| answer | deltas | contender | ms | µs per delta | ÷ PartialJSON |")
    print("|---:|---:|---|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        n = len(deltas(document(size)))
        result = measure(size, args.rounds)
        base = result["PartialJSON"]
        for name, ms in result.items():
            print(f"| {size:,} | {n:,} | {name} | {ms:.2f} | {ms * 1e3 / n:.2f} | "
                  f"{ms / base:.2f} |")


if __name__ == "__main__":
    main()
