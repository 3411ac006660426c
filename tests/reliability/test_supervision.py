"""Supervision: a handler that raises never kills the mailbox thread silently
nor loses a terminal message; ``on_failure`` sees it and ``failure_policy``
decides what happens to the stream and the actor."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import pytest

from streamactors import (
    Chunk,
    Data,
    Error,
    Finish,
    Message,
    StreamCancelled,
    StreamError,
    StreamHandle,
    StreamingClient,
    StreamResult,
)
from streamactors.testing import Fault, LoopbackServer, Script

from . import MESSAGES, MODELS, Recorder, make_client, stream_threads, wait_until

pytestmark = pytest.mark.timeout(20)

MODEL = MODELS["openai"]
TOKENS = tuple(f" w{i}" for i in range(12))


class Boom(Exception):
    """What the handlers under test raise."""


class Faulty(Recorder):
    """Raises from ``handle_data`` on one chunk text of the streams in
    ``victims``, and optionally from ``handle_error``/``handle_finish``."""

    def __init__(self, *, on_text: str | None = " w3", victims: set[StreamHandle] | None = None,
                 raise_on_error: bool = False, raise_on_finish: bool = False,
                 mailbox_size: int = 0) -> None:
        super().__init__(mailbox_size=mailbox_size)
        self.on_text = on_text
        self.victims = victims
        self.raise_on_error = raise_on_error
        self.raise_on_finish = raise_on_finish
        self.concurrent = 0
        self.max_concurrent = 0
        self._guard = threading.Lock()

    def handle_data(self, chunk: Chunk, stream: StreamHandle) -> None:
        with self._guard:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            super().handle_data(chunk, stream)
            if (self.on_text is not None and chunk.text == self.on_text
                    and (self.victims is None or stream in self.victims)):
                raise Boom(f"handler failed on {chunk.text!r}")
        finally:
            with self._guard:
                self.concurrent -= 1

    def handle_error(self, error: StreamError, stream: StreamHandle) -> None:
        super().handle_error(error, stream)
        if self.raise_on_error:
            raise Boom("handle_error failed")

    def handle_finish(self, result: StreamResult, stream: StreamHandle) -> None:
        super().handle_finish(result, stream)
        if self.raise_on_finish:
            raise Boom("handle_finish failed")


def terminals(messages: list[Message]) -> list[Error | Finish]:
    return [m for m in messages if isinstance(m, (Error, Finish))]


def settle(*handles: StreamHandle) -> None:
    for h in handles:
        try:
            h.wait(5)
        except StreamError:
            pass


@pytest.fixture
def paced(server: LoopbackServer) -> LoopbackServer:
    server.script = Script(tokens=TOKENS, tokens_per_second=200)
    return server


def test_default_policy_cancels_only_the_failing_stream(paced: LoopbackServer,
                                                        no_leaks: None) -> None:
    client = make_client(paced)
    actor = Faulty(victims=set())
    actor.start()
    try:
        bad = client.chat(MODEL, MESSAGES, stream_to=actor)
        actor.victims = {bad}
        good = [client.chat(MODEL, MESSAGES, stream_to=actor) for _ in range(3)]
        settle(bad, *good)
        # The actor survived and still serves new streams.
        assert wait_until(lambda: all(len(terminals(actor.of(h))) == 1 for h in [bad, *good]))
        assert actor.is_alive()
        late = client.chat(MODEL, MESSAGES, stream_to=actor)
        assert late.wait(5).text == "".join(TOKENS)
    finally:
        actor.stop()
        assert actor.join(5)
        client.close()
    # on_failure saw the exception with the message it failed on.
    ((exc, message),) = actor.failures
    assert isinstance(exc, Boom)
    assert isinstance(message, Data) and message.stream is bad and message.chunk.text == " w3"
    # The failing stream ended with one Error, handled by handle_error.
    msgs = actor.of(bad)
    assert terminals(msgs) == [msgs[-1]]
    err = msgs[-1]
    assert isinstance(err, Error) and isinstance(err.error, StreamCancelled)
    assert err.error.reason == "handler_failed" and err.error.__cause__ is exc
    # No chunk of it reached handle_data after the one that failed.
    texts = [m.chunk.text for m in msgs if isinstance(m, Data) and m.chunk.text]
    assert texts == list(TOKENS[:4])
    for h in good:
        assert [type(m) for m in terminals(actor.of(h))] == [Finish]
        assert h.result is not None and h.result.text == "".join(TOKENS)
    assert actor.max_concurrent == 1


def test_default_on_failure_logs_with_traceback(paced: LoopbackServer, no_leaks: None,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)

    class Plain(Faulty):
        on_failure = StreamingClient.on_failure  # the library's default

    client = make_client(paced)
    actor = Plain().start()
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=actor)
        with pytest.raises(StreamCancelled):
            handle.wait(5)
    finally:
        actor.stop()
        actor.join(5)
        client.close()
    (record,) = [r for r in caplog.records if r.name == "streamactors"]
    assert record.levelno == logging.ERROR and handle.id in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is Boom


def test_ignore_policy_carries_on(paced: LoopbackServer, no_leaks: None) -> None:
    class Ignoring(Faulty):
        failure_policy = "ignore"

    client = make_client(paced)
    actor = Ignoring()
    actor.on_text = None
    actor.start()
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=actor)
        actor.on_text = " w3"
        result = handle.wait(5)
        actor.stop()
        assert actor.join(5)
    finally:
        actor.stop()
        client.close()
    assert result.text == "".join(TOKENS)
    assert len(actor.failures) == 1
    msgs = actor.of(handle)
    assert [type(m) for m in terminals(msgs)] == [Finish]
    assert [m.chunk.text for m in msgs if isinstance(m, Data) and m.chunk.text] == list(TOKENS)


def test_stop_policy_stops_the_actor_and_its_streams(server: LoopbackServer,
                                                     no_leaks: None) -> None:
    server.script = Script(tokens=TOKENS, tokens_per_second=40)

    class Stopping(Faulty):
        failure_policy = "stop"

    client = make_client(server)
    actor = Stopping(victims=set())
    actor.start()
    try:
        others = [client.chat(MODEL, MESSAGES, stream_to=actor) for _ in range(2)]
        bad = client.chat(MODEL, MESSAGES, stream_to=actor)
        actor.victims = {bad}
        settle(bad, *others)
        assert actor.join(5), "the actor must stop"
    finally:
        actor.stop()
        client.close()
    ((exc, message),) = actor.failures
    assert isinstance(exc, Boom) and isinstance(message, Data) and message.stream is bad
    assert isinstance(bad.error, StreamCancelled) and bad.error.reason == "handler_failed"
    assert bad.error.__cause__ is exc
    for h in others:
        assert isinstance(h.error, StreamCancelled) and h.error.reason == "target_stopped"
    # The stopped actor refuses new streams at once.
    with pytest.raises(Exception, match="does not accept streams"):
        client.chat(MODEL, MESSAGES, stream_to=actor)


@pytest.mark.parametrize("where", ["error", "finish"])
def test_failing_terminal_handler_is_reported(where: str, server: LoopbackServer,
                                              no_leaks: None) -> None:
    """``handle_error``/``handle_finish`` raising: on_failure gets the
    terminal message, the actor keeps serving."""
    fault = Fault("drop", after=2) if where == "error" else None
    server.script = Script(tokens=TOKENS, fault=fault)
    client = make_client(server, max_retries=0)
    actor = Faulty(on_text=None, raise_on_error=where == "error",
                   raise_on_finish=where == "finish").start()
    try:
        first = client.chat(MODEL, MESSAGES, stream_to=actor)
        settle(first)
        assert wait_until(lambda: len(actor.failures) == 1)
        server.script = Script(tokens=TOKENS)
        actor.raise_on_finish = False
        second = client.chat(MODEL, MESSAGES, stream_to=actor)
        assert second.wait(5).text == "".join(TOKENS)
        assert wait_until(lambda: len(terminals(actor.of(second))) == 1)
        assert actor.is_alive()
    finally:
        actor.stop()
        assert actor.join(5)
        client.close()
    ((exc, message),) = actor.failures
    assert isinstance(exc, Boom)
    assert isinstance(message, Error if where == "error" else Finish)
    assert message.stream is first
    assert terminals(actor.of(first)) == [message]


def test_on_failure_that_raises_is_logged_and_survived(
    paced: LoopbackServer, no_leaks: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)

    class Worse(Faulty):
        def on_failure(self, exc: BaseException, message: Message | None) -> None:
            raise RuntimeError("on_failure broke too")

    client = make_client(paced)
    actor = Worse().start()
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=actor)
        with pytest.raises(StreamCancelled):
            handle.wait(5)
        assert wait_until(lambda: len(terminals(actor.of(handle))) == 1)
        assert actor.is_alive()
    finally:
        actor.stop()
        assert actor.join(5)
        client.close()
    assert any("on_failure itself raised" in r.getMessage() for r in caplog.records)


def test_system_exit_in_a_handler_does_not_hang_streams(
    paced: LoopbackServer, no_leaks: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A BaseException escapes supervision and ends the mailbox thread: it is
    reported, and streams blocked on the full mailbox are cancelled instead
    of waiting forever."""
    caplog.set_level(logging.CRITICAL)

    class Exiting(Recorder):
        def handle_data(self, chunk: Chunk, stream: StreamHandle) -> None:
            if chunk.text == " w2":
                sys.exit(3)

    client = make_client(paced)
    actor = Exiting(mailbox_size=1).start()
    try:
        handles = [client.chat(MODEL, MESSAGES, stream_to=actor) for _ in range(3)]
        for h in handles:
            with pytest.raises(StreamCancelled):
                h.wait(3)
        assert actor.join(3)
        with pytest.raises(RuntimeError):
            actor.ask(lambda: 1)
    finally:
        actor.stop()
        client.close()
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)
    ((exc, message),) = actor.failures
    assert isinstance(exc, SystemExit) and message is None


def test_on_start_failure_stops_the_actor(paced: LoopbackServer, no_leaks: None) -> None:
    class BadStart(Recorder):
        def on_start(self) -> None:
            raise Boom("cannot start")

    actor = BadStart().start()
    assert actor.join(5)
    ((exc, message),) = actor.failures
    assert isinstance(exc, Boom) and message is None
    client = make_client(paced)
    try:
        with pytest.raises(Exception, match="does not accept streams"):
            client.chat(MODEL, MESSAGES, stream_to=actor)
    finally:
        client.close()


# -- a callable target ----------------------------------------------------------------


def test_callable_that_raises_cancels_its_stream(
    paced: LoopbackServer, no_leaks: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    seen: list[Message] = []
    boom = Boom("callable failed")

    def target(m: Message) -> None:
        seen.append(m)
        if isinstance(m, Data) and m.chunk.text == " w3":
            raise boom

    client = make_client(paced)
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=target)
        with pytest.raises(StreamCancelled) as info:
            handle.wait(5)
    finally:
        client.close()
    err = info.value
    assert err.reason == "handler_failed" and err.__cause__ is boom
    assert terminals(seen) == [seen[-1]] and seen[-1] == Error(handle, err)
    texts = [m.chunk.text for m in seen if isinstance(m, Data) and m.chunk.text]
    assert texts == list(TOKENS[:4])
    assert err.partial is not None and err.partial.text == "".join(TOKENS[:4])
    assert err.partial.chunks == sum(isinstance(m, Data) for m in seen)
    (record,) = [r for r in caplog.records if r.name == "streamactors"]
    assert record.exc_info is not None and record.exc_info[1] is boom


@pytest.mark.parametrize("fault", [None, "drop"])
def test_callable_that_raises_on_the_terminal_message(
    fault: Any, server: LoopbackServer, no_leaks: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    server.script = Script(tokens=TOKENS, fault=Fault(fault, after=2) if fault else None)
    seen: list[Message] = []

    def target(m: Message) -> None:
        seen.append(m)
        if isinstance(m, (Error, Finish)):
            raise Boom("terminal handler failed")

    client = make_client(server, max_retries=0)
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=target)
        try:
            handle.wait(5)
        except StreamError:
            pass
    finally:
        client.close()
    assert handle.done() and len(terminals(seen)) == 1
    assert any("terminal message" in r.getMessage() for r in caplog.records)
    assert wait_until(lambda: not stream_threads())


def test_handlers_never_run_concurrently(server: LoopbackServer, no_leaks: None) -> None:
    """Twenty streams into one actor: handler methods run one at a time, on
    the actor's own thread, each stream's chunks in order."""
    server.script = Script(tokens=TOKENS, tokens_per_second=500)
    client = make_client(server)
    actor = Faulty(on_text=None).start()
    try:
        handles = [client.chat(MODEL, MESSAGES, stream_to=actor) for _ in range(20)]
        settle(*handles)
        time.sleep(0.05)
        actor_thread = actor.ask(lambda: threading.current_thread().name).result(5)
    finally:
        actor.stop()
        assert actor.join(5)
        client.close()
    assert actor.max_concurrent == 1
    assert actor.threads == {actor_thread}
    for h in handles:
        msgs = actor.of(h)
        assert [m.chunk.text for m in msgs if isinstance(m, Data) and m.chunk.text] == list(
            TOKENS)
        assert terminals(msgs) == [msgs[-1]]
