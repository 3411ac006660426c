"""Fork safety: a forked child (gunicorn ``--preload``, multiprocessing with
``fork``) starts with an empty pool and its own reader; the parent's pooled
connections stay the parent's.

The server answers every request with the text of the request's own user
message, so an answer that went to the wrong process shows. A child reports
through a pipe and leaves with ``os._exit`` (no pytest teardown in it).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import threading
import time
from typing import Any

import pytest

from streamactors import Client

from . import RawServer
from ._raw import MODEL, raw_client, raw_server, sse_response, user_text

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python >= 3.12 warns about fork() while threads are alive; forking with
    # threads alive is exactly the case under test.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

READERS = ("reactor", "thread")
TRIALS = 50
#: Longest a child may take to report (it is killed after that).
CHILD_LIMIT = 10.0


def _ask(client: Client, marker: str) -> str:
    """The text of a stream whose user message is ``marker``."""
    return client.chat(MODEL, [{"role": "user", "content": marker}]).wait(5).text


def _fork(work: Any) -> tuple[int, int]:
    """Fork a child that runs ``work()`` and reports what it returned (or
    raised) as JSON through a pipe, then ``os._exit``s. Returns the child's
    pid and the read end of its pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            try:
                report: dict[str, Any] = {"result": work()}
                code = 0
            except BaseException as exc:
                report = {"error": repr(exc)}
            os.write(write_fd, json.dumps(report).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _report(pid: int, read_fd: int) -> dict[str, Any]:
    """What the child reported; a child that hangs is killed and reported so."""
    try:
        ready, _, _ = select.select([read_fd], [], [], CHILD_LIMIT)
        data = os.read(read_fd, 65536) if ready else b""
    finally:
        os.close(read_fd)
    if not data:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if not data:
        return {"error": f"the child hung for {CHILD_LIMIT} s (killed)"}
    report: dict[str, Any] = json.loads(data)
    return report


def _echo(request: bytes) -> bytes:
    return sse_response([user_text(request)])


@pytest.mark.parametrize("reader", READERS)
def test_parent_and_child_never_swap_answers(reader: str) -> None:
    swaps: list[str] = []
    with RawServer(_echo) as raw, raw_client(raw, reader) as client:
        assert _ask(client, "warm-up") == "warm-up"  # a connection is now pooled
        t0 = time.monotonic()
        for i in range(TRIALS):
            # Child and parent stream at once, each with its own marker.
            pid, read_fd = _fork(lambda i=i: _ask(client, f"child-{i}"))
            try:
                parent = _ask(client, f"parent-{i}")
            finally:
                child = _report(pid, read_fd)
            if parent != f"parent-{i}":
                swaps.append(f"trial {i}: the parent got {parent!r}")
            if child.get("result") != f"child-{i}":
                swaps.append(f"trial {i}: the child got {child}")
        took = time.monotonic() - t0
    print(f"\n[{reader}] {TRIALS} forks in {took:.2f} s, {len(swaps)} swapped or failed")
    assert not swaps, swaps[:5]


@pytest.mark.parametrize("reader", READERS)
def test_parent_connection_survives_the_child(reader: str) -> None:
    served: list[tuple[socket.socket, str]] = []
    lock = threading.Lock()

    def echo(conn: socket.socket, request: bytes, server: RawServer) -> None:
        text = user_text(request)
        with lock:
            served.append((conn, text))
        conn.sendall(sse_response([text]))

    def child_work() -> str:
        text = _ask(client, "child")
        client.close()  # closes the child's own pool, never the parent's sockets
        return text

    with raw_server(echo) as raw, raw_client(raw, reader) as client:
        assert _ask(client, "parent-1") == "parent-1"
        child = _report(*_fork(child_work))
        assert child == {"result": "child"}
        assert _ask(client, "parent-2") == "parent-2"
    conn_of = {text: conn for conn, text in served}
    # The child opened its own connection; the parent's second stream reused
    # the parent's first connection, still open after the child exited.
    assert conn_of["child"] is not conn_of["parent-1"]
    assert conn_of["parent-2"] is conn_of["parent-1"]
    assert len(served) == 3


@pytest.mark.parametrize("reader", READERS)
def test_a_child_exiting_does_not_cancel_the_parents_streams(reader: str) -> None:
    """The child leaves the way an interpreter does (the exit hook runs):
    the parent's live stream is not the child's to cancel, and its socket,
    shared by the fork, must not be shut down under the parent."""
    from streamactors.actors import _registry as _registry
    from streamactors.testing import LoopbackServer, Script

    tokens = [f" w{i}" for i in range(20)]
    with LoopbackServer(Script(tokens=tokens, tokens_per_second=40)) as server, \
            Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False,
                   reader=reader) as client:
        handle = client.chat(MODEL, [{"role": "user", "content": "hi"}])
        time.sleep(0.1)  # the stream is live, its socket open
        def leave() -> str:
            _registry._at_exit()
            return "exited"

        child = _report(*_fork(leave))
        assert child == {"result": "exited"}
        assert handle.wait(5).text == "".join(tokens)


@pytest.mark.parametrize("reader", READERS)
def test_a_childs_idle_limit_still_fires(reader: str) -> None:
    """The idle limit is checked by one periodic sweep on the deadline thread.
    A child must start its own: it inherits the parent's note that a sweep is
    scheduled, on a deadline thread the child does not have."""
    from streamactors import Timeout
    from streamactors.errors import IdleTimeout, StreamError
    from streamactors.testing import LoopbackServer, Script

    def silent(conn: socket.socket, request: bytes, server: RawServer) -> None:
        end = time.monotonic() + CHILD_LIMIT
        while not server.stopped and time.monotonic() < end:
            time.sleep(0.01)

    def child_work() -> str:
        with raw_client(raw, reader, timeout=Timeout(connect=2, read=30, idle=0.3),
                        max_retries=0) as child_client:
            handle = child_client.chat(MODEL, [{"role": "user", "content": "hi"}])
            try:
                handle.wait(5)
            except IdleTimeout:
                return "idle"
            except (StreamError, TimeoutError) as exc:
                return repr(exc)
            return "finished"

    tokens = [f" w{i}" for i in range(20)]
    with LoopbackServer(Script(tokens=tokens, tokens_per_second=40)) as server, \
            raw_server(silent) as raw, \
            Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False,
                   reader=reader, timeout=Timeout(idle=5)) as client:
        handle = client.chat(MODEL, [{"role": "user", "content": "hi"}])
        time.sleep(0.1)  # the parent's idle sweep is scheduled
        assert _report(*_fork(child_work)) == {"result": "idle"}
        assert handle.wait(5).text == "".join(tokens)


def test_a_child_can_add_a_metrics_listener_held_by_the_parent_at_fork() -> None:
    from streamactors import metrics

    def child_work() -> str:
        remove = metrics.add_listener(lambda record: None)
        remove()
        return "added"

    with metrics._lock:  # as another thread of the parent might hold it
        pid, read_fd = _fork(child_work)
    assert _report(pid, read_fd) == {"result": "added"}
