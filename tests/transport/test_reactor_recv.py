"""The reactor's GIL-holding ``recv`` (POSIX): it must behave exactly as a
non-blocking ``socket.recv`` does, and the reactor must use it only where it
is safe (plain sockets, not TLS)."""

from __future__ import annotations

import gc
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from streamactors.transport._cancel import CancelToken
from streamactors.transport._reactor import Reactor, _Job
from streamactors.transport._recv import READ_SIZE as _READ_SIZE
from streamactors.transport._recv import gil_holding_reader as _gil_holding_reader

pytestmark = pytest.mark.skipif(
    _gil_holding_reader() is None, reason="no GIL-holding recv on this platform"
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def _reader() -> Callable[[socket.socket], Callable[[int], bytes]]:
    reader = _gil_holding_reader()
    assert reader is not None
    return reader


@pytest.mark.timeout(10)
def test_reads_what_is_there_then_would_block(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    recv = _reader()(a)
    with pytest.raises(BlockingIOError):
        recv(_READ_SIZE)
    b.sendall(b"data: one\n\n")
    assert recv(_READ_SIZE) == b"data: one\n\n"
    with pytest.raises(BlockingIOError):
        recv(_READ_SIZE)


@pytest.mark.timeout(10)
def test_never_more_than_asked(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    recv = _reader()(a)
    b.sendall(b"abcdefgh")
    assert recv(3) == b"abc"
    assert recv(_READ_SIZE * 4) == b"defgh"  # capped at its own buffer, not more


@pytest.mark.timeout(10)
def test_eof_is_empty_bytes(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    recv = _reader()(a)
    b.sendall(b"last")
    b.shutdown(socket.SHUT_WR)
    assert recv(_READ_SIZE) == b"last"
    assert recv(_READ_SIZE) == b""


@pytest.mark.timeout(10)
def test_a_closed_socket_is_an_error_not_another_sockets_bytes(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, _ = pair
    recv = _reader()(a)
    a.close()
    # The descriptor number is free again; a new socket may get it. The reader
    # asks the socket object for its descriptor on every call (-1 once closed).
    c, d = socket.socketpair()
    try:
        d.sendall(b"not yours")
        with pytest.raises(OSError) as info:
            recv(_READ_SIZE)
        assert not isinstance(info.value, BlockingIOError)
    finally:
        c.close()
        d.close()


@pytest.mark.timeout(20)
def test_the_buffer_outlives_the_factory(pair: tuple[socket.socket, socket.socket]) -> None:
    # The ctypes buffer is referenced only by the closures: a version that
    # kept just its address wrote into freed memory and crashed the process.
    a, b = pair
    recv = _reader()(a)
    gc.collect()
    junk = [bytearray(1000) for _ in range(20_000)]  # reuse freed memory
    payload = bytes(range(256)) * 200  # 51,200 bytes
    received = bytearray()
    sender = threading.Thread(target=b.sendall, args=(payload,))
    sender.start()
    deadline = time.monotonic() + 10
    while len(received) < len(payload) and time.monotonic() < deadline:
        try:
            received += recv(_READ_SIZE)
        except BlockingIOError:
            time.sleep(0.001)
    sender.join()
    del junk
    assert bytes(received) == payload


@pytest.mark.timeout(10)
def test_unavailable_without_msg_dontwait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socket, "MSG_DONTWAIT")
    assert _gil_holding_reader() is None


@pytest.mark.timeout(20)
def test_the_reactor_reads_plain_sockets_with_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    got: list[bytes] = []
    readers: list[object] = []

    def on_data(data: bytes) -> bool:
        got.append(data)
        return not data

    reactor = Reactor()
    original = reactor._take_pending

    def take_pending() -> None:
        original()
        readers.extend(job.recv for job in reactor._jobs.values() if job is not None)

    reactor._take_pending = take_pending  # type: ignore[method-assign]
    runner = threading.Thread(
        target=reactor.run, args=(a, on_data, 5.0, CancelToken(), lambda exc: exc)
    )
    runner.start()
    b.sendall(b"x" * 100)
    b.shutdown(socket.SHUT_WR)
    runner.join(10)
    assert not runner.is_alive()
    assert b"".join(got) == b"x" * 100 and got[-1] == b""
    assert readers and all(r != a.recv for r in readers)  # not socket.recv
    assert reactor._reader is not None


@pytest.mark.timeout(30)
def test_the_gil_stays_with_the_reader() -> None:
    # socket.recv hands the GIL to a waiting thread on every call; the
    # reader keeps it, so a thread spinning meanwhile gets far fewer turns.
    reads = 300
    turns = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            turns[0] += 1

    def spinner_turns(make: Callable[[socket.socket], Callable[[int], bytes]]) -> int:
        a, b = socket.socketpair()
        a.setblocking(False)
        b.sendall(b"y" * reads)
        read = make(a)
        spinner = threading.Thread(target=spin)
        spinner.start()
        time.sleep(0.02)  # the spinner now always waits for the GIL
        before = turns[0]
        for _ in range(reads):
            read(1)
        got = turns[0] - before
        stop.set()
        spinner.join()
        stop.clear()
        a.close()
        b.close()
        return got

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        held = min(spinner_turns(_reader()) for _ in range(3))
        released = max(spinner_turns(lambda s: s.recv) for _ in range(3))
    finally:
        sys.setswitchinterval(interval)
    assert held < released


@pytest.mark.timeout(20)
def test_a_long_round_gives_other_threads_a_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reads keep the GIL, so a round over many ready sockets must let it go
    # now and then (time.sleep(0)): workers starting streams need turns.
    turns: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if seconds == 0:
            turns.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    reactor = Reactor()
    idle_a, idle_b = socket.socketpair()  # keeps the reactor thread busy waiting
    idle_a.setblocking(False)
    keeper = threading.Thread(
        target=reactor.run, args=(idle_a, lambda data: not data, None, CancelToken(),
                                  lambda exc: exc)
    )
    keeper.start()
    pairs = [socket.socketpair() for _ in range(48)]
    try:
        jobs = []
        for a, b in pairs:
            a.setblocking(False)
            b.sendall(b"ready")
            b.shutdown(socket.SHUT_WR)
            jobs.append(_Job(a, lambda data: not data, 5.0, lambda exc: exc))  # type: ignore[arg-type,return-value]
        with reactor._lock:  # all at once: one round finds the 48 sockets ready
            reactor._pending.extend(jobs)
        reactor._wake_w.send(b"x")
        assert all(job.done.wait(10) for job in jobs)
        assert all(job.error is None for job in jobs)
    finally:
        idle_b.shutdown(socket.SHUT_WR)
        keeper.join(10)
        for a, b in [*pairs, (idle_a, idle_b)]:
            a.close()
            b.close()
    assert turns  # at least one turn: checked every 16 reads, at most one per 2 ms


@pytest.mark.timeout(20)
def test_a_burst_is_followed_by_a_read_that_lets_the_gil_go(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    # An unpaced stream reads 64 KiB bursts whose consumer has work to do:
    # after a big read the job reads through socket.recv (which lets the GIL
    # go); after a small one, through the GIL-holding reader again.
    a, b = pair
    reactor = Reactor()
    seen: list[tuple[int, str]] = []
    called = threading.Semaphore(0)

    def on_data(data: bytes) -> bool:
        (job,) = [j for j in reactor._jobs.values() if j is not None]
        way = "plain" if job.recv == job.plain else "held" if job.recv is job.held else "?"
        seen.append((len(data), way))
        called.release()
        return not data

    runner = threading.Thread(
        target=reactor.run, args=(a, on_data, 5.0, CancelToken(), lambda exc: exc)
    )
    runner.start()
    for piece in (b"a" * 20_000, b"x", b"y"):
        b.sendall(piece)
        assert called.acquire(timeout=5)
    b.shutdown(socket.SHUT_WR)
    runner.join(10)
    assert seen[:3] == [(20_000, "held"), (1, "plain"), (1, "held")]
