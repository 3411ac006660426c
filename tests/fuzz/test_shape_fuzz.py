"""Wrong-shape JSON through every codec: real recorded events with one value
somewhere replaced by a value of another JSON type (a list where an object
belongs, a number where a string belongs, null, a huge string...). The codec
must answer with the library's ``ProtocolError`` (naming the provider) or a
``ProviderError``; an ``AttributeError``, ``TypeError``, ``KeyError`` or a
hang is a bug. Property-based (hypothesis), derandomized, so a CI run is
short and repeatable; ``FUZZ_EXAMPLES=5000`` runs longer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamactors.errors import ProtocolError, ProviderError
from streamactors.providers import RequestInput, StreamDecoder, resolve

from .._data import RECORDED
from .._mutate import paths, recorded_events, replace

pytestmark = pytest.mark.timeout(180)

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=None,
                database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: recorded folder -> (model, api) of the codec that reads it.
CODECS: dict[str, tuple[str, str | None]] = {
    "openai-chat": ("openai/m", None),
    "openai-compatible": ("openai-compatible/m", None),
    "mistral": ("mistral/m", None),
    "openai-responses": ("openai/m", "responses"),
    "anthropic": ("anthropic/m", None),
    "gemini": ("gemini/m", None),
    "ollama": ("ollama/m", None),
}


STREAMS = [(folder, p) for folder in CODECS for p in sorted((RECORDED / folder).iterdir())
           if p.suffix in (".sse", ".ndjson")]

#: Values of every JSON type, including the awkward ones.
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
    st.text(max_size=8), st.just("x" * 5000), st.just([]), st.just({}),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.one_of(st.none(), st.integers()), max_size=3),
    st.just("\ud800"),
)


def _decoder(folder: str) -> StreamDecoder:
    model, api = CODECS[folder]
    provider, _ = resolve(model, base_url="http://127.0.0.1:9/v1", api_key="sk-fuzz", api=api)
    return provider.new_decoder(RequestInput("chat", (), None))


@pytest.mark.parametrize(("folder", "path"), STREAMS, ids=[f"{f}-{p.name}" for f, p in STREAMS])
@FUZZ
@given(data=st.data())
def test_wrong_shape_is_a_typed_error(folder: str, path: Path, data: st.DataObject) -> None:
    events = recorded_events(path)
    mutated = list(events)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(mutated) - 1))
        name, value = mutated[i]
        where = data.draw(st.sampled_from(paths(value)))
        mutated[i] = (name, replace(value, where, data.draw(odd_values)))
    decoder = _decoder(folder)
    for name, value in mutated:
        text = value if isinstance(value, str) and value.startswith("[DONE]") else json.dumps(value)
        try:
            decoder.feed(text, name)
        except (ProtocolError, ProviderError) as exc:
            if isinstance(exc, ProtocolError):
                assert exc.message, "a ProtocolError must say what was wrong"
            return
