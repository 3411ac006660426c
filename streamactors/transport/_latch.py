"""A one-way flag that threads wait on: ``threading.Event`` in three objects.

Every live stream holds a few of these (its handle's "done", its cancel
token, its reader job). ``threading.Event`` builds a ``Condition``, a deque
of waiters, a lock and a handful of bound methods: about ten objects that
the cyclic garbage collector walks on every full collection, for each flag
of each live stream. A ``Latch`` is one slotted object and two locks, and
its ``set``/``is_set``/``wait`` behave as ``Event``'s (a latch is never
cleared).
"""

from __future__ import annotations

import _thread
import threading

__all__ = ["Latch"]


class Latch:
    """Set once, from any thread; any number of threads wait for it.

    ``_gate`` is held from creation until ``set()`` releases it; a waiter
    acquires it and at once releases it for the next waiter. ``_once`` makes
    the release happen once, however many threads call ``set()`` together.
    """

    __slots__ = ("_gate", "_is_set", "_once")

    def __init__(self) -> None:
        self._gate = _thread.allocate_lock()
        self._gate.acquire()
        self._once = _thread.allocate_lock()
        self._is_set = False

    def set(self) -> None:
        if self._once.acquire(False):
            self._is_set = True
            self._gate.release()

    def is_set(self) -> bool:
        return self._is_set

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False if ``timeout`` seconds passed first (None:
        wait for ever; zero or less: do not wait), as ``Event.wait``."""
        if self._is_set:
            return True
        gate = self._gate
        if timeout is None:
            got = gate.acquire()
        elif timeout <= 0:
            got = gate.acquire(False)
        else:
            got = gate.acquire(True, min(timeout, threading.TIMEOUT_MAX))
        if got:
            gate.release()
        return self._is_set
