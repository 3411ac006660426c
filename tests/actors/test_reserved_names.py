"""A subclass owns every attribute and method name it likes: the actor's own
state lives in one name-mangled attribute, and streams deliver to the
mailbox, not to the actor (issue §7)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import streamactors as sa
from streamactors.actors._client import _MAILBOX_ATTR, mailbox_of
from streamactors.testing import LoopbackServer, Script

pytestmark = pytest.mark.timeout(20)

MESSAGES = [{"role": "user", "content": "hi"}]
TOKENS = tuple(f" w{i}" for i in range(30))
TEXT = "".join(TOKENS)


class Reserved(sa.StreamingClient):
    """Uses the eight attribute names of the issue in its handlers, and sink
    method names of its own."""

    def __init__(self, *, mailbox_size: int = 0) -> None:
        super().__init__(mailbox_size=mailbox_size)
        self._streams: dict[str, str] = {}  # stream id -> text so far
        self._lock = threading.Lock()
        self._thread = "my thread"
        self._queue: list[str] = []  # finished stream ids, in order
        self._state = "new"
        self._mailbox: list[str] = []  # every chunk text, in arrival order
        self._running = False
        self._stopped = False

    def on_start(self) -> None:
        self._state = "started"
        self._running = True

    def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
        with self._lock:
            self._streams[stream.id] = self._streams.get(stream.id, "") + (chunk.text or "")
        if chunk.text:
            self._mailbox.append(chunk.text)

    def handle_finish(self, result: sa.StreamResult, stream: sa.StreamHandle) -> None:
        self._queue.append(stream.id)

    def handle_error(self, error: sa.StreamError, stream: sa.StreamHandle) -> None:
        self._queue.append(f"error {stream.id}: {error!r}")

    def on_stop(self) -> None:
        self._running = False
        self._stopped = True
        self._state = "stopped"

    # The names of the Sink protocol, with meanings of the subclass's own.
    def open(self, path: str) -> str:
        return f"opened {path}"

    def deliver(self, parcel: str) -> str:
        return f"delivered {parcel}"

    def terminal(self) -> str:
        return "a terminal of my own"


class OldInternals(Reserved):
    """Also clobbers every name the actor's state used to live under."""

    _size = "my size"
    _nonblocking_delivery = True  # would let the reader thread block, if read
    nonblocking = True  # the Sink protocol's name: the same, were the actor the sink

    def __init__(self, *, mailbox_size: int = 0) -> None:
        super().__init__(mailbox_size=mailbox_size)
        for name in ("_cond", "_maxsize", "_closed", "_name", "_failed", "_idle", "_wake",
                     "_run", "_loop", "_dispatch", "_refuse", "_handler_failed",
                     "_safe_failure", "_drain_after_failed_start"):
            setattr(self, name, f"mine: {name}")


def _client(server: LoopbackServer, reader: str) -> sa.Client:
    return sa.Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False,
                     timeout=sa.Timeout(connect=5, read=5), reader=reader)


@pytest.mark.parametrize("cls", [Reserved, OldInternals])
@pytest.mark.parametrize("bounded", [False, True], ids=["unbounded", "bounded"])
@pytest.mark.parametrize("reader", ["reactor", "thread"])
def test_subclass_attribute_names_do_not_collide(
    server: LoopbackServer, reader: str, bounded: bool, cls: type[Reserved]
) -> None:
    server.script = Script(tokens=TOKENS, tokens_per_second=2000)
    client = _client(server, reader)
    actor = cls(mailbox_size=2 if bounded else 0)
    assert actor.start() is actor
    try:
        handles = [client.chat("openai/m", MESSAGES, stream_to=actor) for _ in range(3)]
        results = [h.wait(10) for h in handles]
        seen = actor.ask(lambda: (dict(actor._streams), list(actor._queue),
                                  actor._state, actor._running)).result(5)
        assert actor.is_alive()
        assert "running" in repr(actor)
    finally:
        actor.stop()
        assert actor.join(5)
        client.close()
    streams, finished, state, running = seen
    assert [r.text for r in results] == [TEXT] * 3
    assert streams == {h.id: TEXT for h in handles}
    assert sorted(finished) == sorted(h.id for h in handles)
    assert (state, running) == ("started", True)
    assert len(actor._mailbox) == 3 * len(TOKENS)
    # After stop: on_stop ran, and every name still holds the subclass's value.
    assert (actor._state, actor._running, actor._stopped) == ("stopped", False, True)
    assert actor._thread == "my thread"
    assert actor.open("x") == "opened x" and actor.deliver("p") == "delivered p"
    assert actor.terminal() == "a terminal of my own"
    assert "stopped" in repr(actor)


def test_the_base_class_sets_one_attribute() -> None:
    """Everything of the base class lives under one reserved, mangled name."""
    actor = sa.StreamingClient(mailbox_size=3)
    assert list(vars(actor)) == [_MAILBOX_ATTR] == ["_StreamingClient__mailbox"]
    for name in ("open", "deliver", "terminal", "nonblocking", "_nonblocking_delivery", "_size"):
        assert not hasattr(actor, name), name


def test_the_sink_is_the_mailbox_not_the_actor() -> None:
    """Workers read ``nonblocking`` from the sink: the mailbox's answer
    follows ``mailbox_size``, whatever the subclass defines."""
    unbounded, bounded = OldInternals(), OldInternals(mailbox_size=4)
    assert mailbox_of(unbounded) is not unbounded  # type: ignore[comparison-overlap]
    assert mailbox_of(unbounded).nonblocking is True
    assert mailbox_of(bounded).nonblocking is False
    assert mailbox_of(bounded) is mailbox_of(bounded)


class Forgetful(sa.StreamingClient):
    def __init__(self) -> None:  # no super().__init__()
        self.texts: list[str] = []


def test_a_subclass_that_forgot_super_init_gets_a_clear_error(server: LoopbackServer) -> None:
    actor = Forgetful()
    assert "Forgetful" in repr(actor)  # repr never fails
    for action in (actor.start, actor.stop, actor.join, actor.is_alive,
                   lambda: actor.ask(lambda: 1), actor.__enter__):
        with pytest.raises(sa.ConfigurationError, match=r"Forgetful.*super\(\)\.__init__\(\)"):
            action()
    client = _client(server, "thread")
    sent = len(server.requests)
    try:
        with pytest.raises(sa.ConfigurationError, match=r"call super\(\)\.__init__\(\)"):
            client.chat("openai/m", MESSAGES, stream_to=actor)
    finally:
        client.close()
    assert len(server.requests) == sent, "the error comes before any request"


@pytest.mark.parametrize(("size", "shown"), [(-1, "-1"), (1.5, "1.5"), (True, "True"),
                                             ("8", "'8'")])
def test_a_bad_mailbox_size_is_a_clear_error(size: Any, shown: str) -> None:
    with pytest.raises(sa.ConfigurationError, match=rf"mailbox_size .*got {shown}"):
        sa.StreamingClient(mailbox_size=size)
