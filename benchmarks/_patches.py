"""Prototypes of hot-path changes proposed for the library, applied at run time
(``python -m benchmarks.run --patch from_json,compact``) so their gain is
measured by the same scenarios, in the same run, as the library as it is.

They are benchmark-only monkeypatches written against the library's current
internals; the library itself is never modified here. docs/benchmarks.md
describes each proposal and its measured effect.

* ``from_json``: decode event JSON with ``pydantic_core.from_json`` (already a
  dependency, through pydantic) instead of ``json.loads``, in the OpenAI chat
  codec. Faster parsing, short strings shared from its cache, fewer objects.
* ``compact``: the accumulator joins the text fragments of a choice every 256
  chunks instead of keeping one small ``str`` per chunk until the end.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PATCHES", "apply"]

_COMPACT_EVERY = 256


def _from_json() -> None:
    import json

    import pydantic_core

    from streamactors.providers import openai_chat

    from_json = pydantic_core.from_json
    loads = json.loads

    def decode(data: str) -> Any:
        try:
            return from_json(data)
        except ValueError as exc:
            if "recursion limit" in str(exc):
                raise  # nesting deeper than 200: refuse, do not recurse in C
            # from_json rejects lone surrogate escapes that json.loads accepts;
            # let json.loads decide (it raises the usual error if truly bad).
            return loads(data)

    openai_chat._loads = decode  # type: ignore[assignment]


def _compact() -> None:
    from streamactors import accumulate

    original = accumulate.Accumulator.add
    # The library's state classes have __slots__, so the prototype keeps each
    # fragment list's mark here (holding the list, so its id is never reused).
    marks: dict[int, list[Any]] = {}

    def add(self: Any, chunk: Any) -> None:
        original(self, chunk)
        if chunk.text:
            parts = self._choices[chunk.index].text
            entry = marks.get(id(parts))
            if entry is None:
                entry = marks[id(parts)] = [parts, 0]
            mark = entry[1]
            if len(parts) - mark >= _COMPACT_EVERY:
                parts[mark:] = ["".join(parts[mark:])]
                entry[1] = mark + 1

    accumulate.Accumulator.add = add  # type: ignore[method-assign]


PATCHES = {"from_json": _from_json, "compact": _compact}


def apply(names: list[str]) -> None:
    """Apply the named prototypes in this process."""
    for name in names:
        if name not in PATCHES:
            raise SystemExit(f"unknown patch {name!r}; known: {', '.join(PATCHES)}")
        PATCHES[name]()
