"""Partial values shaped like the model, built incrementally (closed objects
and list items reused): at every step equal to shaping the whole partial
value afresh, and at the end equal to the validated answer."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from streamactors._chunk import Chunk
from streamactors._output import OutputSpec
from streamactors._partials import PartialOutput
from streamactors._shapes import Shaper

PROPS = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])


class Step(BaseModel):
    text: str
    minutes: int | None = None
    tips: list[str] = []


class Part(BaseModel):
    name: str
    steps: list[Step]


class Menu(BaseModel):
    title: str
    parts: list[Part]
    main: Part | None = None
    extra: dict[str, Step] = {}
    scores: list[list[int]] = []


steps = st.builds(Step, text=st.text(max_size=12), minutes=st.none() | st.integers(0, 99),
                  tips=st.lists(st.text(max_size=6), max_size=3))
parts = st.builds(Part, name=st.text(max_size=8), steps=st.lists(steps, max_size=3))
menus = st.builds(Menu, title=st.text(max_size=10), parts=st.lists(parts, max_size=3),
                  main=st.none() | parts, extra=st.dictionaries(st.text(max_size=4), steps,
                                                                max_size=2),
                  scores=st.lists(st.lists(st.integers(), max_size=3), max_size=3))


def fresh(value: Any) -> Any:
    return Shaper(Menu).shape(copy.deepcopy(value), [])


@PROPS
@given(menus, st.lists(st.integers(min_value=1, max_value=400), max_size=30))
def test_incremental_shapes_equal_fresh_ones_at_every_step(menu: Menu, cuts: list[int]) -> None:
    text = menu.model_dump_json()
    points = sorted({c % len(text) for c in cuts} | {len(text)})
    spec = OutputSpec("Menu", {}, True, Menu)
    partial = PartialOutput(spec)
    parser = partial._answer._parser
    start = 0
    last: Any = None
    for end in points:
        partial.add(Chunk(text=text[start:end]))
        for got in partial.step():
            assert got == fresh(parser.value)
            last = got
        start = end
    assert last == menu  # the whole answer, shaped, is the model's value
    assert spec.parse(text) == menu


def test_a_closed_object_is_shaped_once() -> None:
    spec = OutputSpec("Menu", {}, True, Menu)
    partial = PartialOutput(spec)
    partial.add(Chunk(text='{"title": "t", "parts": [{"name": "a", "steps": []}, {"name": "b"'))
    (first,) = partial.step()
    partial.add(Chunk(text=', "steps": [{"text": "x"}]}, {"na'))
    (second,) = partial.step()
    assert second.parts[0] is first.parts[0]  # closed at the first step: reused
    assert second.parts[1] is not first.parts[1]  # was open: shaped again
    assert second.parts[1].steps[0].text == "x"
    assert [p.name for p in second.parts] == ["a", "b", None]


class WithPrivate(BaseModel):
    _secret: int = 3
    a: int | None = None
    step: Step | None = None


class WithExtra(BaseModel, extra="allow"):
    a: int | None = None


def test_instances_are_what_model_construct_builds() -> None:
    for model, text in ((Step, '{"text": "x", "minutes": 2, "tips": ["a"]}'),
                        (WithPrivate, '{"a": 1, "step": {"text": "y"}}'),
                        (WithExtra, '{"a": 1}')):
        partial = PartialOutput(OutputSpec(model.__name__, {}, True, model))
        partial.add(Chunk(text=text))
        (got,) = partial.step()
        assert type(got) is model
        names = list(model.model_fields)
        expected = model.model_construct(**{n: getattr(got, n) for n in names})
        assert got == expected and got.model_fields_set == set(names)
        assert got.model_dump() == expected.model_dump()
    private = PartialOutput(OutputSpec("p", {}, True, WithPrivate))
    private.add(Chunk(text='{"a": 1}'))
    (value,) = private.step()
    assert value._secret == 3  # private attributes get their defaults
