"""``PartialJSON``: partial values as a JSON text arrives in pieces.

The properties the structured-output issue asks for, over generated JSON and
every kind of split: each partial value is a prefix-extension of the next,
the last equals ``json.loads``; invalid text is refused at the first
character that makes it invalid, whatever the split. Then the rules one by
one (what shows while it is cut), and the errors."""

from __future__ import annotations

import copy
import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from streamactors.errors import OutputValidationError, StreamError
from streamactors.partial_json import PartialJSON

PROPS = settings(max_examples=250, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=25)
layouts = st.sampled_from([
    {}, {"ensure_ascii": False}, {"indent": 2}, {"separators": (",", ":")},
    {"indent": "\t", "ensure_ascii": False}])


def extends(a: Any, b: Any) -> bool:
    """``b`` is ``a`` grown: same containers with more in them, strings longer."""
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(b)[:len(a)] == list(a)
                and all(extends(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return (isinstance(b, list) and len(a) <= len(b)
                and all(extends(x, y) for x, y in zip(a, b, strict=False)))
    if isinstance(a, str):
        return isinstance(b, str) and b.startswith(a)
    return type(a) is type(b) and a == b


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def partials(pieces: list[str]) -> tuple[list[Any], Any]:
    parser = PartialJSON()
    seen = []
    for piece in pieces:
        parser.feed(piece)
        if parser.has_value:
            seen.append(copy.deepcopy(parser.value))
    return seen, parser.finish()


@PROPS
@given(values, layouts, st.lists(st.integers(min_value=0), max_size=40))
def test_any_split_grows_monotonically_to_what_json_loads_reads(
        value: Any, layout: dict[str, Any], cuts: list[int]) -> None:
    text = json.dumps(value, **layout)
    seen, final = partials(split(text, cuts))
    assert final == json.loads(text)
    chain = [*seen, final]
    for earlier, later in itertools.pairwise(chain):
        assert extends(earlier, later), (earlier, later)


@PROPS
@given(values, layouts)
def test_one_character_at_a_time(value: Any, layout: dict[str, Any]) -> None:
    text = json.dumps(value, **layout)
    seen, final = partials(list(text))
    assert final == json.loads(text)
    chain = [*seen, final]
    for earlier, later in itertools.pairwise(chain):
        assert extends(earlier, later)


def _first_error(pieces: list[str]) -> int | None:
    parser = PartialJSON()
    try:
        for piece in pieces:
            parser.feed(piece)
    except OutputValidationError as exc:
        return exc.offset
    return None


@PROPS
@given(values, st.integers(min_value=0), st.sampled_from(list('{}[]",:x\\ -0.e+1nu\x01')),
       st.booleans(), st.lists(st.integers(min_value=0), max_size=10))
def test_broken_text_fails_at_its_first_bad_character_whatever_the_split(
        value: Any, at: int, char: str, insert: bool, cuts: list[int]) -> None:
    text = json.dumps(value)
    at %= len(text) + 1
    broken = text[:at] + char + text[at + (0 if insert else 1):]
    try:
        expected: Any = json.loads(broken)
    except ValueError:
        expected = None
    whole = _first_error([broken])
    if whole is None:  # still JSON, or a cut prefix of it
        parser = PartialJSON()
        parser.feed(broken)
        try:
            assert parser.finish() == expected
        except OutputValidationError as exc:
            assert expected is None and exc.offset == len(broken)
        return
    assert expected is None  # never refuses what json.loads takes
    # The text before the offset is a valid start; the character at it is not.
    assert _first_error([broken[:whole]]) is None
    assert _first_error([broken[:whole + 1]]) == whole
    assert _first_error(split(broken, cuts)) == whole


@pytest.mark.parametrize(("text", "steps"), [
    ('{"a": 12, "b": true}', [{}, {}, {}, {}, {}, {}, {}, {}, {"a": 12}, {"a": 12},
                              {"a": 12}, {"a": 12}, {"a": 12}, {"a": 12}, {"a": 12},
                              {"a": 12}, {"a": 12}, {"a": 12}, {"a": 12, "b": True},
                              {"a": 12, "b": True}]),
    ('["ab", -1.5]', [[], [""], ["a"], ["ab"], ["ab"], ["ab"], ["ab"], ["ab"], ["ab"],
                      ["ab"], ["ab"], ["ab", -1.5]]),
])
def test_what_shows_after_each_character(text: str, steps: list[Any]) -> None:
    parser = PartialJSON()
    got = []
    for ch in text:
        parser.feed(ch)
        got.append(copy.deepcopy(parser.value))
    assert got == steps


def test_a_key_shows_only_once_its_string_closed() -> None:
    parser = PartialJSON()
    parser.feed('{"tit')
    assert parser.value == {}
    parser.feed('le": "Pa')
    assert parser.value == {"title": "Pa"}
    parser.feed('sta"')
    assert parser.value == {"title": "Pasta"}


def test_a_string_never_shows_half_an_escape() -> None:
    parser = PartialJSON()
    shown = []
    for ch in '"a\\n\\u00e9\\ud83d\\ude00\\\\"':
        parser.feed(ch)
        shown.append(parser.value)
    assert shown[-1] == "a\né\U0001f600\\"
    assert all(shown[-1].startswith(s) for s in shown)
    assert "\ud83d" not in "".join(shown)  # the high half of the pair never showed alone


def test_a_lone_surrogate_is_kept_as_json_loads_keeps_it() -> None:
    text = '["\\ud800x", "\\udc00", "\\ud800\\u0041"]'
    parser = PartialJSON()
    for ch in text:
        parser.feed(ch)
    assert parser.finish() == json.loads(text) == ["\ud800x", "\udc00", "\ud800A"]


def test_a_top_level_number_is_complete_only_at_the_end() -> None:
    parser = PartialJSON()
    parser.feed("12")
    assert not parser.has_value
    parser.feed("3")
    assert parser.finish() == 123
    assert parser.done


def test_blanks_around_the_value_are_fine_and_text_after_it_is_not() -> None:
    parser = PartialJSON()
    parser.feed(' \n {"a": [ ] } \n')
    assert parser.done and parser.value == {"a": []}
    with pytest.raises(OutputValidationError) as info:
        parser.feed("  x")
    assert info.value.offset == 18
    assert "text after the JSON value" in str(info.value)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "[1,]", "{,}",
                                  "[01]", '{"a" 1}', "{'a': 1}", '"\x01"', "[1 2]", "tru e",
                                  '"\\x"', '"\\u12G4"', "[.5]", "[1.]", "[1e]"])
def test_what_is_refused(text: str) -> None:
    parser = PartialJSON()
    with pytest.raises(OutputValidationError) as info:
        parser.feed(text)
        parser.finish()
    assert isinstance(info.value, StreamError) and isinstance(info.value, ValueError)
    assert f"offset {info.value.offset}" in str(info.value)


@pytest.mark.parametrize(("text", "offset"), [
    ("", 0), ("   ", 3), ('{"a": 1', 7), ('"abc', 4), ("[tr", 3), ('{"a"', 4), ("-", 1)])
def test_a_text_that_ends_early_fails_at_finish_with_its_length(text: str, offset: int) -> None:
    parser = PartialJSON()
    parser.feed(text)
    with pytest.raises(OutputValidationError) as info:
        parser.finish()
    assert info.value.offset == offset


def test_an_error_is_sticky() -> None:
    parser = PartialJSON()
    with pytest.raises(OutputValidationError) as first:
        parser.feed("[1, ]")
    with pytest.raises(OutputValidationError) as again:
        parser.feed("2]")
    assert again.value is first.value
    with pytest.raises(OutputValidationError):
        parser.finish()


def test_deep_nesting_needs_no_recursion() -> None:
    depth = 20_000
    parser = PartialJSON()
    parser.feed("[" * depth + "]" * depth)
    value = parser.finish()
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


def test_duplicate_keys_keep_the_last_value_as_json_loads_does() -> None:
    text = '{"a": 1, "b": 2, "a": 3}'
    parser = PartialJSON()
    for ch in text:
        parser.feed(ch)
    assert parser.finish() == json.loads(text) == {"a": 3, "b": 2}


def test_numbers_read_as_json_loads_reads_them() -> None:
    text = "[0, -0, 1e400, -1E-2, 12345678901234567890, 0.1, 2.50]"
    parser = PartialJSON()
    parser.feed(text)
    got = parser.finish()
    assert got == json.loads(text)
    assert [type(x) for x in got] == [type(x) for x in json.loads(text)]
    assert math.isinf(got[2])


@given(st.text(max_size=300), st.lists(st.integers(min_value=0), max_size=8))
@PROPS
def test_arbitrary_text_raises_only_output_validation_error(text: str, cuts: list[int]) -> None:
    assume(text)
    parser = PartialJSON()
    try:
        for piece in split(text, cuts):
            parser.feed(piece)
        parser.finish()
    except OutputValidationError:
        pass


@pytest.mark.parametrize("pieces", [["[ ", "]"], ["{ ", " }"], ["[", " ", "\n", "]"],
                                    ['{"a": [ ', " ] ", "}"]])
def test_blanks_before_a_closing_bracket_in_another_piece(pieces: list[str]) -> None:
    parser = PartialJSON()
    for piece in pieces:
        parser.feed(piece)
    assert parser.finish() == json.loads("".join(pieces))
