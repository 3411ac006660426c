"""The stream pipeline both readers push into (framing -> codec -> deliver):
any split of a recorded body delivers the same chunks, one batch per read at
most, nothing after the end marker, and what was decoded before a failure
before the failure."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamactors import Chunk
from streamactors.actors._pipeline import Pipeline
from streamactors.errors import ProtocolError, StreamError
from streamactors.providers import RequestInput, StreamDecoder, resolve

from .. import _data

#: recorded bodies: (folder, provider/model, framing)
CASES = [
    ("openai-chat", "openai/m", True),
    ("anthropic", "anthropic/m", True),
    ("gemini", "gemini/m", True),
    ("ollama", "ollama/m", False),
]
BODIES = [
    (model, sse, path.read_bytes(), f"{folder}/{path.name}")
    for folder, model, sse in CASES
    for path in sorted((_data.RECORDED / folder).iterdir())
    if path.suffix in (".sse", ".ndjson")
]


def _decoder(model: str) -> StreamDecoder:
    provider, _ = resolve(model, base_url="http://127.0.0.1:9/v1", api_key="sk-pipe")
    return provider.new_decoder(RequestInput("chat", ()))


class Delivered:
    """The ``deliver`` of a test: every batch, as the worker would get it."""

    def __init__(self) -> None:
        self.batches: list[list[Chunk]] = []

    def __call__(self, batch: list[Chunk]) -> None:
        self.batches.append(list(batch))

    @property
    def chunks(self) -> list[Chunk]:
        return [c for b in self.batches for c in b]


def _run(model: str, sse: bool, reads: list[bytes]) -> tuple[Delivered, StreamError | None]:
    seen = Delivered()
    pipe = Pipeline(_decoder(model), sse, 1 << 20, seen)
    try:
        for read in reads:
            before = len(seen.batches)
            pipe.push(read)
            assert len(seen.batches) - before <= 1, "more than one batch for one read"
            if pipe.decoder.done:
                break
        else:
            pipe.close()
    except StreamError as exc:  # the worker ends the stream with it
        return seen, exc
    return seen, None


def _cut(body: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize(("model", "sse", "body"), [b[:3] for b in BODIES],
                         ids=[b[3] for b in BODIES])
@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_of_a_body_delivers_the_same_chunks(model: str, sse: bool, body: bytes,
                                                      cuts: list[int]) -> None:
    whole, whole_error = _run(model, sse, [body])
    split, split_error = _run(model, sse, _cut(body, cuts))
    assert split.chunks == whole.chunks
    assert type(split_error) is type(whole_error)


def test_each_paced_read_is_one_batch() -> None:
    events = [b'data: {"choices":[{"index":0,"delta":{"content":"%d"}}]}\n\n' % i
              for i in range(5)]
    seen, error = _run("openai/m", True, events)
    assert error is None
    assert [[c.text for c in b] for b in seen.batches] == [[str(i)] for i in range(5)]


def test_nothing_after_the_end_marker_is_delivered() -> None:
    body = (b'data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}\n\n'
            b"data: [DONE]\n\n"
            b'data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\n')
    seen, error = _run("openai/m", True, [body])
    assert error is None
    assert [c.text for c in seen.chunks] == ["a"]


def test_chunks_before_a_malformed_event_are_delivered_before_its_error() -> None:
    body = (b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
            b'data: {"choices":[{"index":0,"delta":{"content":"b"}}]}\n\n'
            b"data: {not json\n\n")
    seen, error = _run("openai/m", True, [body])
    assert isinstance(error, ProtocolError)
    assert [c.text for c in seen.chunks] == ["a", "b"]


def test_close_decodes_an_unterminated_last_ndjson_line() -> None:
    line = b'{"model":"m","message":{"role":"assistant","content":"hi"},"done":false}'
    seen, error = _run("ollama/m", False, [line])
    assert error is None
    assert [c.text for c in seen.chunks] == ["hi"]
