"""Which of the user's code runs on which thread: the table of
docs/handlers.md ("Which of your code runs on which thread"), checked over a
real loopback socket with the default reader."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest

import streamactors as sa
from streamactors import metrics
from streamactors.testing import LoopbackServer, Script

from ..reliability import make_client

pytestmark = pytest.mark.timeout(30)

MSGS = [{"role": "user", "content": "hi"}]
MODEL = "openai/m"


class ThreadRecorder(sa.StreamingClient):
    """Records the thread each of its methods ran on."""

    def on_start(self) -> None:
        self.seen: set[threading.Thread] = {threading.current_thread()}

    def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
        self.seen.add(threading.current_thread())

    def handle_finish(self, result: sa.StreamResult, stream: sa.StreamHandle) -> None:
        self.seen.add(threading.current_thread())


@pytest.fixture
def listener_threads() -> Iterator[list[str]]:
    """Names of the threads the metrics listener ran on, one per stream."""
    names: list[str] = []
    remove = metrics.add_listener(lambda record: names.append(threading.current_thread().name))
    try:
        yield names
    finally:
        remove()


@pytest.fixture
def client(loopback_server: LoopbackServer) -> Iterator[sa.Client]:
    loopback_server.script = Script(tokens=["a", " b", " c"], tokens_per_second=200)
    with make_client(loopback_server, reader="reactor") as c:
        yield c


def test_handler_methods_run_on_the_actors_own_thread(client: sa.Client) -> None:
    with ThreadRecorder() as unbounded, ThreadRecorder(mailbox_size=2) as bounded:
        pooled = client.chat(MODEL, MSGS, stream_to=unbounded)
        threaded = client.chat(MODEL, MSGS, stream_to=bounded)
        assert pooled._thread is None and threaded._thread is not None
        pooled.wait(5)
        threaded.wait(5)
        assert unbounded.ask(threading.current_thread).result(5) in unbounded.seen
    for actor in (unbounded, bounded):
        assert len(actor.seen) == 1, actor.seen
        (thread,) = actor.seen
        assert thread.name == "streamactors-ThreadRecorder", thread.name
    assert unbounded.seen != bounded.seen  # each actor its own thread


def test_a_callable_runs_on_the_streams_own_thread(
        client: sa.Client, listener_threads: list[str]) -> None:
    seen: list[str] = []
    handle = client.chat(MODEL, MSGS,
                         stream_to=lambda message: seen.append(threading.current_thread().name))
    thread = handle._thread
    assert thread is not None
    handle.wait(5)
    assert set(seen) == {thread.name}
    assert listener_threads == [thread.name]  # the thread that ended it


def test_a_bounded_queue_is_fed_by_the_streams_own_thread(client: sa.Client) -> None:
    q: queue.Queue[sa.Message] = queue.Queue(maxsize=1)
    handle = client.chat(MODEL, MSGS, stream_to=q)
    assert handle._thread is not None
    while not isinstance(q.get(timeout=5), sa.Finish):
        pass


def test_a_threadless_stream_ends_on_a_connector_thread(
        client: sa.Client, listener_threads: list[str]) -> None:
    handle = client.chat(MODEL, MSGS)
    assert handle._thread is None
    assert handle.wait(5).text == "a b c"
    assert len(listener_threads) == 1
    assert listener_threads[0].startswith("streamactors-connector-")


def test_iteration_runs_on_the_callers_thread(client: sa.Client) -> None:
    me = threading.current_thread().name
    names = {threading.current_thread().name for _ in client.stream(MODEL, MSGS)}
    assert names == {me}
