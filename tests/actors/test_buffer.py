"""The one bounded buffer (``actors/_buffer.py``) shared by the mailbox, the
handle's ``Channel`` and the asyncio bridge: its bound in chunks, giving up
on cancel or close, terminals beyond the bound, its takers and its
high-water mark."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import streamactors as sa
from streamactors.actors._buffer import Buffer
from streamactors.transport._cancel import CancelToken

pytestmark = pytest.mark.timeout(10)

X = sa.Chunk(text="x")


def _batch(n: int) -> list[sa.Chunk]:
    return [X] * n


def _in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``fn`` on a daemon thread; its result lands in the list."""
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def _blocked(thread: threading.Thread) -> bool:
    """True if ``thread`` is still running after a short while."""
    thread.join(0.1)
    return thread.is_alive()


def test_the_bound_counts_chunks_and_an_empty_buffer_takes_any_batch() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer(4)
    token = CancelToken()
    assert buf.put(_batch(10), token) == 10  # larger than the bound: still taken
    assert buf.size == 10
    thread, out = _in_thread(lambda: buf.put(_batch(1), token))
    assert _blocked(thread), "a full buffer must make put wait"
    assert buf.take_all() == [_batch(10)]
    thread.join(2)
    assert out == [1] and buf.size == 1
    assert buf.put(_batch(3), token) == 3  # 1 + 3 fits the bound of 4
    assert buf.size == 4


def test_a_terminal_is_never_refused_for_lack_of_room() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer(1)
    assert buf.put(_batch(5), CancelToken()) == 5
    assert buf.add("terminal") is True
    assert buf.take_all() == [_batch(5), "terminal"]


def test_not_one_chunk_more_once_cancelled() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer()
    token = CancelToken()
    token.cancel("cancelled")
    assert buf.put(_batch(2), token) == 0
    assert buf.take_all(wait=False) == []


def test_cancel_releases_a_waiting_put_at_once() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer(1)
    token = CancelToken()
    buf.put(_batch(1), token)
    thread, out = _in_thread(lambda: buf.put(_batch(1), token))
    assert _blocked(thread)
    started = time.perf_counter()
    token.cancel("cancelled")
    thread.join(2)
    assert out == [0]  # (the buffer never polls: only the token's callback wakes it)
    assert time.perf_counter() - started < 0.5
    assert buf.size == 1, "the refused batch is not in the buffer"


def test_a_full_buffer_and_an_already_cancelled_token_do_not_deadlock() -> None:
    """The wake-up is registered outside the lock: a token already cancelled
    runs it at once, which takes the buffer's lock."""
    buf: Buffer[list[sa.Chunk], str] = Buffer(1)
    buf.put(_batch(1), CancelToken())
    token = CancelToken()
    token.cancel("cancelled")
    thread, out = _in_thread(lambda: buf.put(_batch(1), token))
    thread.join(2)
    assert out == [0]


def test_close_releases_waiting_puts_and_refuses_everything_after_its_last_item() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer(1)
    token = CancelToken()
    buf.put(_batch(1), token)
    thread, out = _in_thread(lambda: buf.put(_batch(1), token))
    assert _blocked(thread)
    assert buf.close("stop") is True
    thread.join(2)
    assert out == [0] and not token.cancelled, "the buffer refuses; the caller decides"
    assert buf.close("again") is False
    assert buf.add("late") is False and buf.put(_batch(1), token) == 0
    assert buf.take_all() == [_batch(1), "stop"] and buf.closed


def test_take_one_frees_room_batch_by_batch() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer(3)
    token = CancelToken()
    buf.put(_batch(2), token)
    buf.put(_batch(1), token)
    thread, out = _in_thread(lambda: buf.put(_batch(2), token))
    assert _blocked(thread)
    assert buf.take_one() == _batch(2)
    thread.join(2)
    assert out == [2]
    assert [buf.take_one(), buf.take_one()] == [_batch(1), _batch(2)]
    assert buf.size == 0


def test_a_taker_waits_for_the_next_item() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer()
    thread, out = _in_thread(buf.take_one)
    assert _blocked(thread)
    buf.add("terminal")
    thread.join(2)
    assert out == ["terminal"]
    thread, out = _in_thread(buf.take_all)
    assert _blocked(thread)
    buf.put(_batch(1), CancelToken())
    thread.join(2)
    assert out == [[_batch(1)]]


def test_poll_calls_back_once_outside_the_lock() -> None:
    """A coroutine's take: nothing there, so the next item calls ``wake``
    once, without the lock held (it may use the buffer)."""
    buf: Buffer[list[sa.Chunk], str] = Buffer()
    woken: list[int] = []

    def wake() -> None:
        woken.append(buf.size)  # would deadlock if called under the lock

    assert buf.poll(wake) is None
    assert buf.put(_batch(2), CancelToken()) == 2
    buf.add("terminal")
    assert woken == [2], "one call, for the first item only"
    assert buf.poll(wake) == _batch(2)
    assert buf.poll(wake) == "terminal"
    assert buf.poll(wake) is None
    buf.close()
    assert woken == [2, 0], "closing wakes a poller too"


def test_the_high_water_mark_reports_once_then_again_below_half() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer()
    reports: list[int] = []
    buf.watch(10, reports.append)
    token = CancelToken()
    buf.put(_batch(10), token)
    assert reports == []  # at the level, not past it
    buf.put(_batch(1), token)
    buf.put(_batch(20), token)
    assert reports == [11]
    buf.take_all()  # 31 in hand: the backlog is still above half
    buf.put(_batch(1), token)
    assert reports == [11]
    buf.take_all()  # 1 in hand, none waiting: below half, re-armed
    buf.put(_batch(11), token)
    assert reports == [11, 12]


def test_a_taker_that_comes_back_for_more_holds_nothing() -> None:
    """The backlog counts what the taker took last until it waits again."""
    buf: Buffer[list[sa.Chunk], str] = Buffer()
    reports: list[int] = []
    buf.watch(4, reports.append)
    token = CancelToken()
    buf.put(_batch(4), token)
    buf.take_all()
    buf.put(_batch(1), token)
    assert reports == [5], "4 in hand and 1 waiting"
    buf.put(_batch(2), token)
    buf.take_all()  # 3 in hand: not below half, still disarmed
    buf.put(_batch(5), token)
    buf.take_all()
    assert reports == [5]
    thread, _ = _in_thread(buf.take_all)  # waits: it holds nothing now
    assert _blocked(thread)
    buf.put(_batch(5), token)
    thread.join(2)
    assert reports == [5, 5], "re-armed when the taker came back to an empty buffer"


def test_no_high_water_mark_by_default_or_at_level_zero() -> None:
    buf: Buffer[list[sa.Chunk], str] = Buffer()
    reports: list[int] = []
    token = CancelToken()
    buf.put(_batch(100_000), token)
    buf.watch(0, reports.append)
    buf.put(_batch(100_000), token)
    assert reports == []
