"""``OutputToolDecoder``: the forced output tool's call becomes answer text;
anything else passes untouched."""

from __future__ import annotations

from streamactors._chunk import Chunk, ToolCallDelta
from streamactors.providers._base import Continuation
from streamactors.providers._output_tool import OutputToolDecoder


class Scripted:
    """A decoder that returns the chunks it is given, one list per feed."""

    def __init__(self, *feeds: list[Chunk]) -> None:
        self._feeds = list(feeds)
        self.done = False

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        out = self._feeds.pop(0)
        self.done = not self._feeds
        return out

    def continuation(self) -> Continuation:
        return {"message": {"x": 1}}


def test_the_output_tools_fragments_become_text_and_its_finish_stop() -> None:
    inner = Scripted(
        [Chunk(tool_calls=(ToolCallDelta(0, "toolu_1", "Recipe", ""),))],
        [Chunk(tool_calls=(ToolCallDelta(0, arguments='{"title": '),))],
        [Chunk(tool_calls=(ToolCallDelta(0, arguments='"Pasta"}'),)), Chunk(finish_reason="tool_calls")],
    )
    decoder = OutputToolDecoder(inner, "Recipe")
    chunks = [c for _ in range(3) for c in decoder.feed("{}")]
    assert "".join(c.text or "" for c in chunks) == '{"title": "Pasta"}'
    assert all(c.tool_calls == () for c in chunks)
    assert chunks[-1].finish_reason == "stop"
    assert decoder.done and decoder.continuation() == {"message": {"x": 1}}


def test_other_tool_calls_and_text_pass_untouched() -> None:
    other = ToolCallDelta(1, "toolu_2", "lookup", '{"q": 1}')
    inner = Scripted([Chunk(text="hi", tool_calls=(ToolCallDelta(0, "t", "Recipe", "{}"), other))],
                     [Chunk(finish_reason="tool_calls")])
    decoder = OutputToolDecoder(inner, "Recipe")
    first, = decoder.feed("{}")
    assert first.text == "hi{}" and first.tool_calls == (other,)
    last, = decoder.feed("{}")
    assert last.finish_reason == "tool_calls"  # another tool was called: left as it is


def test_without_the_output_tool_nothing_changes() -> None:
    chunk = Chunk(text="plain", finish_reason="tool_calls",
                  tool_calls=(ToolCallDelta(0, "t", "lookup", "{}"),))
    decoder = OutputToolDecoder(Scripted([chunk]), "Recipe")
    assert decoder.feed("{}") == [chunk]
