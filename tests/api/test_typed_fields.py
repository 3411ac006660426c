"""The request fields are typed: ``RequestFields`` lists exactly the fields
the codecs know, a type checker refuses a misspelled or mistyped field (and a
target that is none), and at run time the codec still refuses it, naming the
field and ``extra_body``."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

import streamactors as sa
from streamactors.providers import PROVIDERS
from streamactors.testing import LoopbackServer

from ..providers._field_samples import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
MSGS = [{"role": "user", "content": "Hi"}]
#: Keys of the TypedDicts that are not request fields of a codec.
OURS = {"extra_body", "stream"}


def _table_keys(*, completion: bool) -> set[str]:
    """Every field some codec's table knows (of the text-completion codecs
    only, with ``completion``)."""
    keys: set[str] = set()
    for prefix, info in PROVIDERS.items():
        factories = [info.completion_factory] if completion else [
            info.factory, info.completion_factory]
        for factory in factories:
            if factory is not None:
                keys |= set(factory(prefix).fields)
    return keys


def test_request_fields_are_exactly_the_fields_the_codecs_know() -> None:
    assert set(sa.RequestFields.__optional_keys__) == _table_keys(completion=False) | OURS
    assert not sa.RequestFields.__required_keys__
    assert set(sa.CompletionFields.__optional_keys__) == _table_keys(completion=True) | OURS
    assert set(SAMPLES) <= set(sa.RequestFields.__optional_keys__)


#: Each line is checked by mypy: ``# E: code`` marks the error expected on
#: it; a line without a mark must pass. Every call here is also a call a
#: user could write by mistake, or on purpose.
SNIPPET = '''
import queue
from typing import Any

import streamactors as sa

MSGS = [{"role": "user", "content": "Hi"}]
client = sa.Client(timeout=None)
router = sa.Router({"r": {"model": "openai/m"}})
good: queue.Queue[sa.Message] = queue.Queue()
wrong: queue.Queue[str] = queue.Queue()
loose: dict[str, Any] = {"temperature": 0.1}


class Actor(sa.StreamingClient):
    pass


fields: sa.RequestFields = SAMPLES
sa.chat("openai/m", MSGS, **fields)
sa.chat("openai/m", MSGS, **loose)
sa.chat("openai/m", MSGS, temperature=0, max_tokens=5, stop="END", tool_choice="auto",
        reasoning_effort="low", extra_body={"vendor_flag": True}, stream=True)
sa.chat("openai/m", MSGS, timeout=None, max_retries=0, api="responses", headers={"x": "y"})
sa.chat("openai/m", MSGS, timeout=sa.NOT_GIVEN, max_retries=sa.NOT_GIVEN)
sa.chat("openai/m", MSGS, timeout=sa.Timeout(idle=None), stream_to=good)
sa.chat("openai/m", MSGS, stream_to=good.put)
sa.chat("openai/m", MSGS, stream_to=lambda message: None)
sa.chat("openai/m", MSGS, stream_to=Actor())
sa.complete("openai/m", "Once", suffix="END", echo=False, stop=["END"])
client.stream("openai/m", MSGS, temperature=0.5)
client.astream("openai/m", MSGS, top_p=0.5)
router.chat("r", MSGS, temperature=0, route="fallback", timeout=None, stream_to=good)
router.stream("r", MSGS, max_tokens=3)
router.astream("r", MSGS, seed=1)

sa.chat("openai/m", MSGS, temprature=0.5)  # E: call-arg
sa.stream("openai/m", MSGS, max_token=5)  # E: call-arg
sa.astream("openai/m", MSGS, topp=0.5)  # E: call-arg
sa.complete("openai/m", "Once", thinking={})  # E: call-arg
client.chat("openai/m", MSGS, temprature=0.5)  # E: call-arg
router.chat("r", MSGS, temprature=0.5)  # E: call-arg
router.chat("r", MSGS, base_url="http://127.0.0.1:9")  # E: call-arg
sa.stream("openai/m", MSGS, stream_to=good)  # E: call-arg
sa.chat("openai/m", MSGS, temperature="hot")  # E: arg-type
sa.chat("openai/m", MSGS, reasoning_effort="hihg")  # E: arg-type
sa.chat("openai/m", MSGS, extra_body=["not", "a", "dict"])  # E: arg-type
sa.chat("openai/m", MSGS, stream=False)  # E: arg-type
sa.chat("openai/m", MSGS, timeout="soon")  # E: arg-type
sa.chat("openai/m", MSGS, max_retries=None)  # E: arg-type
sa.chat("openai/m", MSGS, stream_to=wrong)  # E: arg-type
sa.chat("openai/m", MSGS, stream_to="queue")  # E: arg-type
'''


def _expected(source: str) -> set[tuple[int, str]]:
    out = set()
    for number, line in enumerate(source.splitlines(), 1):
        if "# E: " in line:
            out.add((number, line.rsplit("# E: ", 1)[1].strip()))
    return out


@pytest.mark.slow
@pytest.mark.timeout(180)  # a first mypy run without a cache reads the package and pydantic
def test_mypy_refuses_misspelled_and_mistyped_fields(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed")
    from mypy import api

    source = textwrap.dedent(SNIPPET).replace("SAMPLES", repr(SAMPLES), 1)
    path = tmp_path / "typed_calls.py"
    path.write_text(source)
    # The project's own settings (strict) and cache; only the snippet's lines
    # count, so that another module's errors cannot decide this test.
    stdout, stderr, _ = api.run([
        "--config-file", str(ROOT / "pyproject.toml"),
        "--cache-dir", str(ROOT / ".mypy_cache"),
        "--no-error-summary", "--show-error-codes", str(path),
    ])
    got = set()
    for line in stdout.splitlines():
        where, _, rest = line.partition(": error: ")
        # By name: mypy may replay the errors it cached for the same source
        # under the path it had then (an earlier tmp_path).
        if rest and where.rsplit(":", 1)[0].endswith(path.name):
            got.add((int(where.rsplit(":", 1)[1]), rest.rsplit("[", 1)[1].rstrip("]")))
    assert got == _expected(source), stdout + stderr


# -- at run time the codec still decides -----------------------------------------------


def test_a_misspelled_field_is_refused_at_run_time(loopback_server: LoopbackServer) -> None:
    url = loopback_server.url("openai")
    with sa.Client(base_url=url, api_key="k", env={}) as client:
        with pytest.raises(sa.ConfigurationError, match=r"'temprature'.*extra_body"):
            client.chat("openai/m", MSGS, temprature=0.5)  # type: ignore[call-arg]
        with pytest.raises(sa.ConfigurationError, match=r"'max_token'.*extra_body"):
            client.stream("openai/m", MSGS, max_token=5)  # type: ignore[call-arg]
        with pytest.raises(sa.ConfigurationError, match=r"'thinking'.*extra_body"):
            client.complete("openai/m", "Once", thinking={})  # type: ignore[call-arg]
        with pytest.raises(sa.ConfigurationError, match="drop stream_to"):
            client.astream("openai/m", MSGS, stream_to=print)  # type: ignore[call-arg]
        with pytest.raises(sa.ConfigurationError, match="always streams"):
            client.chat("openai/m", MSGS, stream=False)  # type: ignore[arg-type]
        client.chat("openai/m", MSGS, stream=True, extra_body={"temprature": 0.5}).wait(10)
    assert loopback_server.requests[-1].json()["temprature"] == 0.5
    assert len(loopback_server.requests) == 1  # nothing else went out
