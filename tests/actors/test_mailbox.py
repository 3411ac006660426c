"""The mailbox: its backlog warning, its daemon thread, a handler waiting
on its own stream, asks left behind by a dying thread (issue §1, §7)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import streamactors as sa
from streamactors.actors._client import mailbox_of
from streamactors.errors import UsageError
from streamactors.testing import LoopbackServer, Script

pytestmark = pytest.mark.timeout(20)

MESSAGES = [{"role": "user", "content": "hi"}]
CHUNK = sa.Chunk(text="x")


class Gated(sa.StreamingClient):
    """``handle_data`` stops at ``gate`` once ``hold`` is set, telling
    ``entered`` it got there."""

    mailbox_warning = 10

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold = False
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.chunks = 0

    def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
        if self.hold:
            self.entered.set()
            self.gate.wait(10)
        self.chunks += 1


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == "streamactors" and r.levelno == logging.WARNING
            and "mailbox_warning" in r.getMessage()]


def _block(actor: sa.StreamingClient) -> threading.Event:
    """Keep the actor's thread busy in an ``ask`` until the event is set."""
    release = threading.Event()
    started = threading.Event()

    def busy() -> None:
        started.set()
        release.wait(10)

    actor.ask(busy)
    assert started.wait(5)
    return release


@pytest.fixture
def stream() -> Iterator[sa.StreamHandle]:
    """A handle to deliver by hand to a mailbox (no worker, no request)."""
    handle = sa.StreamHandle("openai/m")
    yield handle
    handle._token.cancel("cancelled")


def _idle(actor: sa.StreamingClient) -> None:
    """Wait until the actor has handled everything delivered so far."""
    actor.ask(lambda: None).result(5)


def test_backlog_warning_once_then_again_after_half(
    stream: sa.StreamHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="streamactors")
    with Gated() as actor:
        box = mailbox_of(actor)
        box.open(stream)
        release = _block(actor)
        for _ in range(2):
            box.deliver(stream, [CHUNK] * 5)  # 10 waiting: not past the level yet
        assert not _warnings(caplog)
        box.deliver(stream, [CHUNK])  # 11
        (record,) = _warnings(caplog)
        message = record.getMessage()
        assert "Gated" in message and "11 chunks" in message and "mailbox_size=" in message
        box.deliver(stream, [CHUNK] * 20)  # still past it: no second warning
        # The actor takes the 31 in hand and stops at the first: the backlog
        # (in hand + waiting) stays above half the level, so still one warning.
        actor.hold = True
        release.set()
        assert actor.entered.wait(5)
        box.deliver(stream, [CHUNK] * 5)
        assert len(_warnings(caplog)) == 1
        actor.hold = False
        actor.gate.set()
        _idle(actor)  # everything handled: the backlog fell to 0, re-armed
        release = _block(actor)
        box.deliver(stream, [CHUNK] * 11)
        assert len(_warnings(caplog)) == 2
        release.set()
        _idle(actor)
        assert actor.chunks == 10 + 1 + 20 + 5 + 11
        box.terminal(sa.Finish(stream, sa.StreamResult(provider="openai", model="m")))


@pytest.mark.parametrize("kwargs", [{"mailbox_size": 100}, {}], ids=["bounded", "disabled"])
def test_no_warning_when_bounded_or_disabled(
    kwargs: dict[str, int], stream: sa.StreamHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="streamactors")

    class Quiet(Gated):
        mailbox_warning = 10 if kwargs else 0

    with Quiet(**kwargs) as actor:
        box = mailbox_of(actor)
        box.open(stream)
        release = _block(actor)
        box.deliver(stream, [CHUNK] * 50)
        release.set()
        _idle(actor)
    assert actor.chunks == 50
    assert not _warnings(caplog)


def test_the_default_level(stream: sa.StreamHandle, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="streamactors")
    assert sa.StreamingClient.mailbox_warning == 10_000
    with sa.StreamingClient() as actor:
        box = mailbox_of(actor)
        box.open(stream)
        release = _block(actor)
        box.deliver(stream, [CHUNK] * 10_000)
        assert not _warnings(caplog)
        box.deliver(stream, [CHUNK])
        assert len(_warnings(caplog)) == 1
        release.set()


def test_a_bad_mailbox_warning_is_a_clear_error() -> None:
    class Bad(sa.StreamingClient):
        mailbox_warning = -1

    with pytest.raises(sa.ConfigurationError, match="mailbox_warning must be an int >= 0"):
        Bad().start()


def test_a_stream_into_a_blocked_unbounded_actor_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """End to end: the worker never waits on an unbounded mailbox, so a stuck
    handler lets it grow; the warning says so."""
    caplog.set_level(logging.WARNING, logger="streamactors")
    tokens = [f" t{i}" for i in range(40)]
    with LoopbackServer(Script(tokens=tokens)) as server:
        client = sa.Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False)
        try:
            with Gated() as actor:
                release = _block(actor)
                handle = client.chat("openai/m", MESSAGES, stream_to=actor)
                assert handle.wait(10).text == "".join(tokens)
                assert len(_warnings(caplog)) == 1
                release.set()
        finally:
            client.close()


def test_the_actor_thread_is_a_daemon() -> None:
    with sa.StreamingClient(name="streamactors-daemon-probe") as actor:
        name = actor.ask(lambda: threading.current_thread().name).result(5)
        (thread,) = [t for t in threading.enumerate() if t.name == name]
        assert thread.daemon and name == "streamactors-daemon-probe"


def test_wait_on_its_own_stream_in_a_bounded_handler_is_an_error() -> None:
    """A bounded actor's handler waiting for the stream it is handling would
    deadlock (the worker waits for room only this thread can free): the
    delivery thread is recorded on the handle and ``wait()`` raises at once.
    A watchdog cancels the stream if ``wait()`` blocks instead, so this test
    fails (with StreamCancelled) rather than hangs."""
    tokens = [f" t{i}" for i in range(60)]  # paced: running when the first chunk lands
    outcome: list[BaseException | str] = []
    fired = threading.Event()

    class Waiter(sa.StreamingClient):
        def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
            if outcome:
                return
            def expire() -> None:
                fired.set()
                stream.cancel()

            watchdog = threading.Timer(3.0, expire)
            watchdog.start()
            try:
                stream.wait()
                outcome.append("returned")
            except BaseException as exc:
                outcome.append(exc)
            finally:
                watchdog.cancel()

    with LoopbackServer(Script(tokens=tokens, tokens_per_second=300)) as server:
        client = sa.Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False)
        try:
            with Waiter(mailbox_size=1) as actor:
                handle = client.chat("openai/m", MESSAGES, stream_to=actor)
                assert handle._delivery_thread is not None
                assert handle._delivery_thread.name == "streamactors-Waiter"
                try:
                    handle.wait(10)
                except sa.StreamError:
                    pass
        finally:
            client.close()
    (error,) = outcome
    assert not fired.is_set(), "wait() blocked until the watchdog cancelled the stream"
    assert isinstance(error, UsageError), error
    assert "wait()" in str(error)
    assert handle.result is not None and handle.result.text == "".join(tokens)


def test_an_unbounded_actor_sets_no_delivery_thread(stream: sa.StreamHandle) -> None:
    with sa.StreamingClient() as actor:
        mailbox_of(actor).open(stream)
        assert stream._delivery_thread is None


def test_asks_of_a_round_cut_short_by_a_base_exception_fail(
    stream: sa.StreamHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """SystemExit in a handler ends the thread: the asks it had already
    taken out of the mailbox fail instead of leaving their callers waiting."""
    caplog.set_level(logging.CRITICAL, logger="streamactors")

    class Exiting(sa.StreamingClient):
        def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
            raise SystemExit(3)

        def on_failure(self, exc: BaseException, message: sa.Message | None) -> None:
            pass

    actor = Exiting().start()
    box = mailbox_of(actor)
    box.open(stream)
    release = _block(actor)
    box.deliver(stream, [CHUNK])
    late = actor.ask(lambda: "never")  # taken in the same round as the chunk
    release.set()
    assert actor.join(5)
    with pytest.raises(RuntimeError, match="stopped"):
        late.result(5)
