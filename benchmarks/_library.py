"""streamactors itself, through each of its delivery targets.

Each target does the same user-level work per chunk as the peers (count it,
record its latency when a histogram is given); the library's worker already
decodes, normalizes and accumulates every chunk into the ``StreamResult``, so
the text comes from the result. Each returns ``(chunks, characters of text,
monotonic time of the first chunk)`` like the peers.

* ``handler``: a ``StreamingClient`` actor (mailbox thread), ``stream_to=actor``;
* ``queue``: a ``queue.Queue`` read by the calling thread;
* ``callable``: a function run on the worker thread;
* ``stream()``: the sync iterator;
* ``astream()``: the async iterator (janus), one event loop per stream.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from ._measure import Histogram
from ._peers import MESSAGES, Result

__all__ = ["TARGETS", "BenchActor", "LingerActor", "make_client"]

_monotonic = time.monotonic


def make_client(base_url: str, pool: int = 256, reader: str | None = None) -> Any:
    """A ``streamactors.Client`` for the benchmark server (no retries: a
    failure must show, not be hidden by a second attempt)."""
    import streamactors

    return streamactors.Client(base_url=base_url, api_key="sk-bench", max_retries=0,
                               pool_maxsize=pool, timeout=60, reader=reader)


def _model(model: str) -> str:
    return "openai/" + model


def _make_actor_class() -> type:
    import streamactors

    class _Actor(streamactors.StreamingClient):
        """Counts chunks, records latency, signals each stream's end."""

        def __init__(self, hist: Histogram | None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.hist = hist
            self.count = 0
            self.first = 0.0
            self.finished = 0
            self.failed: list[BaseException] = []
            self.ended = threading.Condition()
            self.per_chunk: Any = None  # optional extra work per chunk (slow consumer)

        def handle_data(self, chunk: Any, stream: Any) -> None:
            if not self.count:
                self.first = _monotonic()
            self.count += 1
            if self.hist is not None:
                self.hist.add(chunk.raw["t"])
            if self.per_chunk is not None:
                self.per_chunk()

        def _end(self) -> None:
            with self.ended:
                self.finished += 1
                self.ended.notify_all()

        def handle_finish(self, result: Any, stream: Any) -> None:
            self._end()

        def handle_error(self, error: Any, stream: Any) -> None:
            self.failed.append(error)
            self._end()

        def wait_streams(self, n: int, timeout: float | None = None) -> bool:
            with self.ended:
                return self.ended.wait_for(lambda: self.finished >= n, timeout)

    return _Actor


def _make_linger_class(base: type) -> type:
    """The benchmark actor with ``StreamingClient.linger`` set (S2): when the
    previous wake-up was less than ``2 * linger`` ago, the actor waits
    ``linger`` before draining its mailbox, so one wake-up serves many
    deliveries."""

    class _Linger(base):  # type: ignore[misc]
        linger = 0.001

    return _Linger


_actor_class: type | None = None
_linger_class: type | None = None


def LingerActor(hist: Histogram | None = None, **kwargs: Any) -> Any:
    """``BenchActor`` with the prototype wake-up coalescing (see above)."""
    global _linger_class
    BenchActor(None)
    if _linger_class is None:
        assert _actor_class is not None
        _linger_class = _make_linger_class(_actor_class)
    return _linger_class(hist, **kwargs)


def BenchActor(hist: Histogram | None = None, **kwargs: Any) -> Any:
    """A started-later ``StreamingClient`` that counts and times chunks."""
    global _actor_class
    if _actor_class is None:
        _actor_class = _make_actor_class()
    return _actor_class(hist, **kwargs)


class Target:
    name = ""
    requires: tuple[str, ...] = ("streamactors",)

    def open(self, base_url: str) -> None:
        self.client = make_client(base_url)

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


class Handler(Target):
    name = "handler"
    reader: str | None = None  # the library's default ("reactor")

    def open(self, base_url: str) -> None:
        self.client = make_client(base_url, reader=self.reader)
        self.actor = BenchActor(None).start()

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        actor = self.actor
        actor.hist = hist
        actor.count = 0
        done = actor.finished
        handle = self.client.chat(_model(model), MESSAGES, stream_to=actor)
        actor.wait_streams(done + 1)
        result = handle.wait()
        return actor.count, len(result.text), actor.first

    def close(self) -> None:
        self.actor.stop()
        self.actor.join()
        super().close()


class QueueTarget(Target):
    name = "queue"

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        import streamactors

        q: queue.Queue[Any] = queue.Queue()
        handle = self.client.chat(_model(model), MESSAGES, stream_to=q)
        count = 0
        first = 0.0
        add = hist.add if hist is not None else None
        get = q.get
        data_type = streamactors.Data
        while True:
            msg = get()
            if type(msg) is not data_type:
                break
            if not count:
                first = _monotonic()
            count += 1
            if add is not None:
                add(msg.chunk.raw["t"])
        result = handle.wait()
        return count, len(result.text), first


class CallableTarget(Target):
    name = "callable"

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        import streamactors

        state = [0, 0.0]
        add = hist.add if hist is not None else None
        data_type = streamactors.Data

        def on_message(msg: Any) -> None:
            if type(msg) is data_type:
                if not state[0]:
                    state[1] = _monotonic()
                state[0] += 1
                if add is not None:
                    add(msg.chunk.raw["t"])

        handle = self.client.chat(_model(model), MESSAGES, stream_to=on_message)
        result = handle.wait()
        return int(state[0]), len(result.text), state[1]


class StreamTarget(Target):
    name = "stream()"

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        count = 0
        first = 0.0
        add = hist.add if hist is not None else None
        it = self.client.stream(_model(model), MESSAGES)
        for chunk in it:
            if not count:
                first = _monotonic()
            count += 1
            if add is not None:
                add(chunk.raw["t"])
        result = it.handle.wait()
        return count, len(result.text), first


class AStreamTarget(Target):
    name = "astream()"

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        import asyncio

        add = hist.add if hist is not None else None

        async def main() -> Result:
            count = 0
            first = 0.0
            parts: list[str] = []
            async for chunk in self.client.astream(_model(model), MESSAGES):
                if not count:
                    first = _monotonic()
                count += 1
                if chunk.text:
                    parts.append(chunk.text)
                if add is not None:
                    add(chunk.raw["t"])
            return count, sum(map(len, parts)), first

        return asyncio.run(main())


class ThreadHandler(Handler):
    """The handler target with ``Client(reader="thread")``: every worker
    reads its own body (the default before the reactor became it)."""

    name = "handler-thread"
    reader = "thread"


TARGETS: dict[str, type[Target]] = {
    t.name: t for t in (Handler, ThreadHandler, QueueTarget, CallableTarget, StreamTarget,
                        AStreamTarget)
}
