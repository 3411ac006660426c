"""The public contract of issue 2, called by exactly these names."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import threading
import time
from typing import Any

import pytest

import streamactors as sa
from streamactors.testing import Fault, LoopbackServer, Script, ToolCallSpec

MSGS = [{"role": "user", "content": "Tell me a story"}]


@pytest.fixture
def env(loopback_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> LoopbackServer:
    monkeypatch.setenv("OPENAI_BASE_URL", loopback_server.url("openai"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    return loopback_server


@pytest.mark.timeout(20)
def test_chat_returns_handle_at_once_and_wait_gives_result(env: LoopbackServer) -> None:
    env.script = Script(tokens_per_second=50)
    t0 = time.monotonic()
    h = sa.chat("openai/gpt-4o-mini", MSGS)
    assert time.monotonic() - t0 < 0.5
    assert isinstance(h, sa.StreamHandle) and h.id.startswith("stream-")
    assert h.model == "openai/gpt-4o-mini"
    assert not h.done() and h.result is None
    with pytest.raises(TimeoutError):
        h.wait(timeout=0.01)
    r = h.wait(timeout=15)
    assert h.done() and h.result is r and h.error is None
    assert r.text == Script().text and r.finish_reason == "stop"
    assert r.usage is not None and r.usage.prompt_tokens == 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.model == "demo-model" and r.id
    assert r.time_to_first_token is not None and r.duration is not None
    assert 0 < r.time_to_first_token <= r.duration
    assert r.chunks > 5
    assert len(r.choices) == 1
    # the request as sent
    (req,) = env.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test-key"
    assert req.headers["accept-encoding"] == "identity"
    body = req.json()
    assert body["model"] == "gpt-4o-mini" and body["stream"] is True
    assert body["messages"] == MSGS


@pytest.mark.timeout(20)
def test_params_pass_through(env: LoopbackServer) -> None:
    params: sa.RequestFields = {
        "temperature": 0.3, "max_tokens": 7, "top_p": 0.9, "stop": ["x"], "seed": 1, "n": 1,
        "tool_choice": "auto", "stream_options": {"include_usage": False}}
    sa.chat("openai/m", MSGS, **params).wait(10)
    body = env.requests[-1].json()
    for k, v in params.items():
        assert body[k] == v


@pytest.mark.timeout(20)
def test_tool_calls_and_to_chat_completion(env: LoopbackServer) -> None:
    env.push(Script(text="", tool_calls=[
        ToolCallSpec("get_weather", '{"city": "Paris"}', id="call_1"),
        ToolCallSpec("get_time", "{}", id="call_2"),
    ]))
    r = sa.chat("openai/m", MSGS).wait(10)
    assert r.finish_reason == "tool_calls"
    assert [(t.id, t.name, json.loads(t.arguments)) for t in r.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}), ("call_2", "get_time", {})]
    cc = r.to_chat_completion()
    assert cc["object"] == "chat.completion" and cc["id"] == r.id and cc["model"] == r.model
    (choice,) = cc["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["index"] == 0
    msg = choice["message"]
    assert msg["role"] == "assistant" and msg["content"] is None
    assert msg["tool_calls"][0] == {"id": "call_1", "type": "function",
                                    "function": {"name": "get_weather",
                                                 "arguments": '{"city": "Paris"}'}}
    assert set(cc["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}


@pytest.mark.timeout(20)
def test_n_choices(env: LoopbackServer) -> None:
    env.push(Script(text="a b c", n=3))
    r = sa.chat("openai/m", MSGS, n=3).wait(10)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(c.text == "a b c" and c.finish_reason == "stop" for c in r.choices)
    assert len(r.to_chat_completion()["choices"]) == 3


@pytest.mark.timeout(20)
def test_chunk_fields(env: LoopbackServer) -> None:
    chunks = list(sa.stream("openai/m", MSGS))
    assert all(isinstance(c, sa.Chunk) for c in chunks)
    c = next(c for c in chunks if c.text)
    assert c.tool_calls == () and c.finish_reason is None and c.index == 0
    assert isinstance(c.raw, dict) and c.raw["object"] == "chat.completion.chunk"
    assert any(c.finish_reason == "stop" for c in chunks)
    assert chunks[-1].usage is not None


@pytest.mark.timeout(20)
def test_stream_raises_at_the_point_of_failure(env: LoopbackServer) -> None:
    env.push(Script(text="a b c d e f", fault=Fault("drop", after=3)))
    seen = []
    it = sa.stream("openai/m", MSGS, max_retries=0)
    with pytest.raises(sa.StreamError) as ei:
        for c in it:
            seen.append(c.text or "")
    assert "".join(seen) == "a b c"
    assert ei.value.partial is not None and ei.value.partial.text == "a b c"
    assert it.handle.error is ei.value


@pytest.mark.timeout(20)
def test_stream_break_early_cancels(env: LoopbackServer) -> None:
    env.push(Script(text=" ".join(["w"] * 200), tokens_per_second=200))
    it = sa.stream("openai/m", MSGS)
    for _ in it:
        break
    it.close()
    with pytest.raises(sa.StreamCancelled):
        it.handle.wait(5)


@pytest.mark.timeout(20)
def test_astream(env: LoopbackServer) -> None:
    async def main() -> tuple[list[str], BaseException | None, str]:
        full = "".join([c.text or "" async for c in sa.astream("openai/m", MSGS)])
        env.push(Script(text="x y z", fault=Fault("drop", after=2)))
        got: list[str] = []
        try:
            async for c in sa.astream("openai/m", MSGS, max_retries=0):
                got.append(c.text or "")
        except sa.StreamError as exc:
            return got, exc, full
        return got, None, full

    env.script = Script(text="x y z")
    got, exc, full = asyncio.run(main())
    assert full == "x y z"
    assert isinstance(exc, sa.StreamError) and "".join(got) == "x y"


@pytest.mark.timeout(20)
def test_astream_early_break_cancels(env: LoopbackServer) -> None:
    env.script = Script(text=" ".join(["w"] * 300), tokens_per_second=300)

    async def main() -> Any:
        it = sa.astream("openai/m", MSGS)
        async for _ in it:
            break
        await it.aclose()
        return it.handle

    h = asyncio.run(main())
    with pytest.raises(sa.StreamCancelled):
        h.wait(5)


@pytest.mark.timeout(20)
def test_queue_target_and_janus_sync_q(env: LoopbackServer) -> None:
    import janus

    q: queue.Queue[Any] = queue.Queue()
    h = sa.chat("openai/m", MSGS, stream_to=q)
    h.wait(10)
    items = []
    while not q.empty():
        items.append(q.get())
    assert isinstance(items[-1], sa.Finish) and items[-1].stream is h
    assert all(isinstance(m, sa.Data) for m in items[:-1])

    async def via_janus() -> list[Any]:
        jq: janus.Queue[Any] = janus.Queue()
        sa.chat("openai/m", MSGS, stream_to=jq.sync_q)
        out = []
        while True:
            m = await jq.async_q.get()
            out.append(m)
            if not isinstance(m, sa.Data):
                break
        jq.close()
        await jq.wait_closed()
        return out

    got = asyncio.run(via_janus())
    assert isinstance(got[-1], sa.Finish) and "".join(m.chunk.text or "" for m in got[:-1]) == Script().text


def test_messages_are_frozen(env: LoopbackServer) -> None:
    msgs = list(sa.chat("openai/m", MSGS))
    first, last = msgs[0], msgs[-1]
    assert isinstance(first, sa.Data) and isinstance(last, sa.Finish)
    with pytest.raises(AttributeError):
        first.chunk = None  # type: ignore[misc, assignment]
    with pytest.raises(AttributeError):
        first.chunk.text = "x"  # type: ignore[misc]
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        last.result.model = "x"


@pytest.mark.timeout(20)
def test_streaming_client_lifecycle(env: LoopbackServer) -> None:
    events: list[str] = []
    threads: list[int] = []

    class Printer(sa.StreamingClient):
        def on_start(self) -> None:
            events.append("start")
            threads.append(threading.get_ident())
            self.state = {"text": ""}

        def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
            self.state["text"] += chunk.text or ""

        def handle_finish(self, result: sa.StreamResult, stream: sa.StreamHandle) -> None:
            events.append("finish")

        def on_stop(self) -> None:
            events.append("stop")
            threads.append(threading.get_ident())

    printer = Printer()
    assert printer.start() is printer
    with pytest.raises(RuntimeError):
        printer.start()
    h = sa.chat("openai/gpt-4o-mini", MSGS, stream_to=printer)
    result = h.wait(timeout=10)
    fut = printer.ask(lambda: printer.state["text"])
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(5) == result.text
    printer.stop()
    assert printer.join(5)
    assert events == ["start", "finish", "stop"]
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()
    with pytest.raises(RuntimeError):
        printer.ask(lambda: 1)
    with pytest.raises(sa.ConfigurationError, match="start"):
        sa.chat("openai/m", MSGS, stream_to=printer)
    with pytest.raises(sa.ConfigurationError, match="start"):
        sa.chat("openai/m", MSGS, stream_to=Printer())


@pytest.mark.timeout(20)
def test_context_manager_processes_mailbox_before_ending(env: LoopbackServer) -> None:
    done: list[sa.StreamResult] = []

    class C(sa.StreamingClient):
        def handle_finish(self, result: sa.StreamResult, stream: sa.StreamHandle) -> None:
            time.sleep(0.05)
            done.append(result)

    with C() as c:
        h = sa.chat("openai/m", MSGS, stream_to=c)
        h.wait(10)
    assert done and done[0] is h.result
    assert not c.is_alive()


@pytest.mark.timeout(20)
def test_stop_refuses_later_streams_by_cancelling_them(env: LoopbackServer) -> None:
    env.script = Script(text=" ".join(["w"] * 100), tokens_per_second=100)

    class C(sa.StreamingClient):
        pass

    c = C().start()
    h = sa.chat("openai/m", MSGS, stream_to=c)
    time.sleep(0.1)
    c.stop()
    c.join(5)
    with pytest.raises(sa.StreamCancelled) as ei:
        h.wait(5)
    assert ei.value.reason == "target_stopped"


@pytest.mark.timeout(20)
def test_complete_legacy(env: LoopbackServer) -> None:
    r = sa.complete("openai/gpt-3.5-turbo-instruct", "Say this is a test").wait(10)
    assert r.text == Script().text and r.finish_reason == "stop"
    req = env.requests[-1]
    assert req.path == "/v1/completions" and req.json()["prompt"] == "Say this is a test"


def test_bad_input_is_a_clear_error_before_any_request(env: LoopbackServer) -> None:
    with pytest.raises(sa.ConfigurationError, match="list"):
        sa.chat("openai/m", "hello")  # type: ignore[arg-type]
    with pytest.raises(sa.ConfigurationError, match="empty"):
        sa.chat("openai/m", [])
    with pytest.raises(sa.ConfigurationError, match="role"):
        sa.chat("openai/m", [{"content": "x"}])
    with pytest.raises(sa.ConfigurationError, match="provider/model"):
        sa.chat("gpt-4o", MSGS)
    with pytest.raises(sa.ConfigurationError, match="stream_to"):
        sa.chat("openai/m", MSGS, stream_to=42)  # type: ignore[arg-type]
    with pytest.raises(sa.ConfigurationError, match="always streams"):
        sa.chat("openai/m", MSGS, stream=False)  # type: ignore[arg-type]
    with pytest.raises(sa.ConfigurationError, match="max_retries"):
        sa.chat("openai/m", MSGS, max_retries=-1)
    with pytest.raises(sa.ConfigurationError, match="timeout"):
        sa.chat("openai/m", MSGS, timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # ConfigurationError is also a ValueError
        sa.chat("openai/m", MSGS, stream_to=object())  # type: ignore[arg-type]
    assert env.requests == []


def test_iterating_a_handle_with_a_target_is_an_error(env: LoopbackServer) -> None:
    q: queue.Queue[Any] = queue.Queue()
    h = sa.chat("openai/m", MSGS, stream_to=q)
    with pytest.raises(TypeError):
        iter(h)
    h.wait(10)


def test_cancel_after_end_is_a_no_op(env: LoopbackServer) -> None:
    h = sa.chat("openai/m", MSGS)
    h.wait(10)
    assert h.cancel() is False
    assert h.result is not None


@pytest.mark.timeout(20)
def test_truncated_stream_is_an_error_not_a_made_up_stop(env: LoopbackServer) -> None:
    env.push(Script(text="a b c", fault=Fault("empty_body")))
    with pytest.raises(sa.IncompleteStream):
        sa.chat("openai/m", MSGS, max_retries=0).wait(10)


@pytest.mark.timeout(20)
def test_client_defaults(loopback_server: LoopbackServer) -> None:
    with sa.Client(base_url=loopback_server.url("openai"), api_key="sk-c", timeout=5,
                   max_retries=0, env={}) as client:
        r = client.chat("openai/m", MSGS).wait(10)
        assert r.text == Script().text
        assert "sk-c" not in repr(client)
        assert loopback_server.requests[-1].headers["authorization"] == "Bearer sk-c"


@pytest.mark.timeout(20)
def test_stream_in_a_for_loop_without_keeping_the_iterator(env: LoopbackServer) -> None:
    """The ChunkStream wrapper is dropped once the loop holds its generator:
    that must not cancel the stream."""
    assert "".join(c.text or "" for c in sa.stream("openai/m", MSGS)) == Script().text


@pytest.mark.timeout(20)
def test_stream_never_iterated_is_cancelled_when_dropped(env: LoopbackServer) -> None:
    import gc

    env.script = Script(text=" w" * 3000)
    it = sa.stream("openai/m", MSGS)
    handle = it.handle
    del it
    gc.collect()
    with pytest.raises(sa.StreamCancelled):
        handle.wait(10)
