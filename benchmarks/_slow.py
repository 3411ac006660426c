"""S5: a slow consumer behind a bounded buffer; memory must stay flat.

The server sends a very long stream as fast as the socket takes it; the
consumer naps 1 ms every ``nap_every`` chunks (a per-chunk ``time.sleep`` costs
60-140 us on these machines whatever the argument, which would make a million
chunks take minutes). The buffer between worker and consumer is bounded, so
the worker blocks, stops reading, and TCP holds the rest back in the
server's socket buffers.

* ``handler``: ``StreamingClient(mailbox_size=bound)``;
* ``queue``: ``queue.Queue(maxsize=bound)``;
* ``stream()``: the iterator (its buffer is fixed at ``api.STREAM_BUFFER`` chunks);
* ``astream()``: the async iterator (its buffer is fixed at ``_aio.MAX_CHUNKS``
  chunks).
"""

from __future__ import annotations

import queue
import time
from typing import Any

from ._peers import MESSAGES
from ._server import model_spec

__all__ = ["consume", "prepare"]


def prepare(url: str) -> None:
    """Import everything a target uses and run one short stream, so that the
    memory baseline is taken with the library loaded."""
    import asyncio  # noqa: F401

    import janus  # noqa: F401

    from ._library import make_client

    client = make_client(url)
    client.chat("openai/" + model_spec(100), MESSAGES, stream_to=lambda m: None).wait()
    client.close()


def consume(name: str, url: str, n: int, bound: int, nap_every: int) -> int:
    """Chunks the slow consumer received from an ``n``-chunk stream."""
    from ._library import make_client

    client = make_client(url)
    model = "openai/" + model_spec(n)
    try:
        if name == "handler":
            return _handler(client, model, bound, nap_every)
        if name == "queue":
            return _queue(client, model, bound, nap_every)
        if name == "stream()":
            return _iterate(client.stream(model, MESSAGES), nap_every)
        if name == "astream()":
            return _async(client, model, nap_every)
        raise SystemExit(f"S5 has no target {name!r}")
    finally:
        client.close()


def _handler(client: Any, model: str, bound: int, nap_every: int) -> int:
    from ._library import BenchActor

    actor = BenchActor(None, mailbox_size=bound)
    state = [0]

    def nap() -> None:
        state[0] += 1
        if state[0] % nap_every == 0:
            time.sleep(0.001)

    actor.per_chunk = nap
    actor.start()
    handle = client.chat(model, MESSAGES, stream_to=actor)
    actor.wait_streams(1)
    handle.wait()
    actor.stop()
    actor.join()
    return int(actor.count)


def _queue(client: Any, model: str, bound: int, nap_every: int) -> int:
    import streamactors

    q: queue.Queue[Any] = queue.Queue(maxsize=bound)
    handle = client.chat(model, MESSAGES, stream_to=q)
    count = 0
    while True:
        msg = q.get()
        if type(msg) is not streamactors.Data:
            break
        count += 1
        if count % nap_every == 0:
            time.sleep(0.001)
    handle.wait()
    return count


def _iterate(chunks: Any, nap_every: int) -> int:
    count = 0
    for _ in chunks:
        count += 1
        if count % nap_every == 0:
            time.sleep(0.001)
    return count


def _async(client: Any, model: str, nap_every: int) -> int:
    import asyncio

    async def main() -> int:
        count = 0
        async for _ in client.astream(model, MESSAGES):
            count += 1
            if count % nap_every == 0:
                await asyncio.sleep(0.001)
        return count

    return asyncio.run(main())
