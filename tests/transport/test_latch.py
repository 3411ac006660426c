"""The ``Latch`` behind every stream's done flag and cancel token: the
``threading.Event`` semantics the library relies on, with real threads."""

from __future__ import annotations

import threading
import time

from streamactors.transport._latch import Latch


def test_a_new_latch_is_not_set_and_a_wait_times_out() -> None:
    latch = Latch()
    assert not latch.is_set()
    start = time.monotonic()
    assert latch.wait(0.05) is False
    assert time.monotonic() - start >= 0.04
    assert latch.wait(0) is False
    assert latch.wait(-1) is False


def test_once_set_every_wait_returns_true_at_once() -> None:
    latch = Latch()
    latch.set()
    assert latch.is_set()
    assert latch.wait() is True
    assert latch.wait(0) is True
    assert latch.wait(10) is True


def test_set_twice_and_from_many_threads_at_once_is_harmless() -> None:
    errors: list[BaseException] = []
    for _ in range(200):
        latch = Latch()
        go = threading.Barrier(4)

        def setter(latch: Latch = latch, go: threading.Barrier = go) -> None:
            go.wait()
            try:
                latch.set()
            except BaseException as exc:  # a second release of the gate would raise here
                errors.append(exc)

        threads = [threading.Thread(target=setter) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert latch.is_set() and latch.wait(0)
    latch.set()
    assert errors == []


def test_every_waiter_wakes_when_it_is_set() -> None:
    latch = Latch()
    woke: list[bool] = []
    lock = threading.Lock()

    def waiter() -> None:
        got = latch.wait(10)
        with lock:
            woke.append(got)

    threads = [threading.Thread(target=waiter) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    assert woke == []
    start = time.monotonic()
    latch.set()
    for t in threads:
        t.join(5)
    assert woke == [True] * 8
    assert time.monotonic() - start < 1.0


def test_a_huge_timeout_is_clamped_not_an_overflow() -> None:
    latch = Latch()
    threading.Timer(0.02, latch.set).start()
    assert latch.wait(1e300) is True
