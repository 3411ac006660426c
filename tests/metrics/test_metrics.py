"""metrics: one StreamMetrics record per finished stream, estimated usage
when the provider sends none, listeners that fail never break a stream."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import streamactors as sa
from streamactors import metrics
from streamactors.testing import Fault, LoopbackServer, Script

MSGS = [{"role": "user", "content": "Say something nice"}]  # 18 characters


@pytest.fixture
def records() -> Iterator[list[metrics.StreamMetrics]]:
    got: list[metrics.StreamMetrics] = []
    remove = metrics.add_listener(got.append)
    try:
        yield got
    finally:
        remove()


def _chat(server: LoopbackServer, model: str = "openai/gpt-4o-mini",
          **kwargs: Any) -> sa.StreamHandle:
    provider = model.split("/", 1)[0]
    return sa.chat(model, MSGS, base_url=server.url(provider), api_key="sk-test-key", **kwargs)


@pytest.mark.timeout(15)
def test_one_record_per_successful_stream(loopback_server: LoopbackServer,
                                          records: list[metrics.StreamMetrics]) -> None:
    loopback_server.script = Script(text="a b c d e f g h", tokens_per_second=200)
    handle = _chat(loopback_server)
    result = handle.wait(10)
    (rec,) = records
    assert (rec.stream_id, rec.model, rec.provider, rec.route) == (
        handle.id, "openai/gpt-4o-mini", "openai", None)
    assert rec.ok and rec.error_type is None and rec.retries == 0
    assert rec.chunks == result.chunks > 8
    assert (rec.prompt_tokens, rec.completion_tokens, rec.estimated) == (12, 8, False)
    assert rec.time_to_first_token == result.time_to_first_token
    assert rec.duration == result.duration
    assert 0 < rec.time_to_first_token < rec.duration  # type: ignore[operator]
    assert rec.tokens_per_second == result.output_tokens_per_second
    assert rec.tokens_per_second is not None and 50 < rec.tokens_per_second < 400
    with pytest.raises(AttributeError):
        rec.ok = False  # type: ignore[misc]


@pytest.mark.timeout(15)
def test_failed_streams_are_recorded_with_their_error(
        loopback_server: LoopbackServer, records: list[metrics.StreamMetrics]) -> None:
    loopback_server.push(Script(fault=Fault("http_error", status=400, message="no")),
                         Script(text="a b c d", fault=Fault("drop", after=2)))
    with pytest.raises(sa.BadRequestError):
        _chat(loopback_server).wait(10)
    with pytest.raises(sa.StreamError) as ei:
        _chat(loopback_server, max_retries=0).wait(10)
    first, second = records
    assert (first.ok, first.error_type, first.chunks, first.prompt_tokens) == (
        False, "BadRequestError", 0, None)
    assert first.time_to_first_token is None and first.duration is not None
    assert (second.ok, second.error_type) == (False, type(ei.value).__name__)
    assert second.chunks == ei.value.partial.chunks > 0  # type: ignore[union-attr]


@pytest.mark.timeout(15)
def test_retries_and_route_are_recorded(loopback_server: LoopbackServer,
                                        records: list[metrics.StreamMetrics]) -> None:
    loopback_server.push(Script(fault=Fault("http_error", status=503, retry_after=0, times=1)))
    routes = {"main": {"model": "anthropic/claude-x", "base_url": loopback_server.url("anthropic"),
                       "api_key": "sk-test-key"}}
    with sa.Router(routes) as router:
        result = router.chat("main", MSGS).wait(10)
    (rec,) = records
    assert (rec.route, rec.retries, rec.provider, rec.model) == (
        "main", 1, "anthropic", "anthropic/claude-x")
    assert result.retries == 1 and result.route == "main"


@pytest.mark.timeout(15)
def test_usage_is_estimated_when_the_provider_sends_none(
        loopback_server: LoopbackServer, records: list[metrics.StreamMetrics]) -> None:
    text = "Estimated, not counted: about four characters per token."
    loopback_server.script = Script(text=text, usage=None)
    result = _chat(loopback_server, "mistral/mistral-small-latest").wait(10)
    assert result.usage is not None and result.usage.estimated is True
    assert result.usage.completion_tokens == math.ceil(len(text) / 4)
    assert result.usage.prompt_tokens == math.ceil(len(MSGS[0]["content"]) / 4)
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    (rec,) = records
    assert rec.estimated and rec.completion_tokens == result.usage.completion_tokens
    # A provider's own usage is never marked as estimated.
    loopback_server.script = Script(text=text)
    real = _chat(loopback_server, "mistral/mistral-small-latest").wait(10)
    assert real.usage is not None and not real.usage.estimated


@pytest.mark.timeout(15)
def test_partial_results_get_an_estimate_too(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="abcd efgh ijkl", usage=None,
                                    fault=Fault("drop", after=2))
    with pytest.raises(sa.StreamError) as ei:
        _chat(loopback_server, max_retries=0).wait(10)
    partial = ei.value.partial
    assert partial is not None and partial.text == "abcd efgh"
    assert partial.usage is not None and partial.usage.estimated
    assert partial.usage.completion_tokens == 3


@pytest.mark.timeout(15)
def test_failing_listener_never_breaks_the_stream(loopback_server: LoopbackServer,
                                                  records: list[metrics.StreamMetrics],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    def broken(record: metrics.StreamMetrics) -> None:
        raise RuntimeError("listener bug")

    remove = metrics.add_listener(broken)
    after: list[str] = []
    remove_after = metrics.add_listener(lambda r: after.append(r.stream_id))
    try:
        with caplog.at_level(logging.ERROR, logger="streamactors"):
            handle = _chat(loopback_server)
            messages = list(handle)
    finally:
        remove()
        remove_after()
    assert isinstance(messages[-1], sa.Finish)
    assert handle.wait(5).text == Script().text
    assert len(records) == 1 and after == [handle.id]
    assert any("listener bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


@pytest.mark.timeout(15)
def test_listeners_run_on_the_thread_that_ends_the_stream_and_can_be_removed(
        loopback_server: LoopbackServer) -> None:
    threads: list[str] = []
    remove = metrics.add_listener(lambda r: threads.append(threading.current_thread().name))
    handle = _chat(loopback_server)
    handle.wait(10)
    seen: list[sa.Message] = []
    own = _chat(loopback_server, stream_to=seen.append)  # a callable: a thread of its own
    own.wait(10)
    remove()
    remove()  # twice is harmless
    _chat(loopback_server).wait(10)
    # A stream without a thread of its own ends on a connector thread (on its
    # own thread under reader="thread"); one with a thread ends on it.
    assert len(threads) == 2
    if handle._thread is None:
        assert threads[0].startswith("streamactors-connector-")
    else:
        assert threads[0] == f"streamactors-{handle.id}"
    assert threads[1] == f"streamactors-{own.id}"
    with pytest.raises(TypeError):
        metrics.add_listener("not callable")  # type: ignore[arg-type]


def test_estimate_usage_counts_every_part_of_the_answer() -> None:
    result = sa.StreamResult(choices=(sa.Choice(
        text="12345678", reasoning="1234",
        tool_calls=(sa.ToolCall(index=0, name="f", arguments='{"a": 1}'),)),))
    usage = metrics.estimate_usage(result, [{"role": "user", "content": [
        {"type": "text", "text": "12345"}, {"type": "image_url", "image_url": {"url": "x"}}]}])
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (2, 5, True)
