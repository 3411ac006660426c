"""A small pool of connector threads: they send the requests of streams that
have no thread of their own.

Theory of operation
-------------------
* ``submit(fn)`` queues a step of some stream (sending its request and
  reading the response head, one attempt); a waiting connector takes it at
  once. The pool grows by need, not by demand: up to ``MIN_CONNECTORS`` are
  started at once, more only while steps wait and every connector has been
  busy with its current step for longer than ``GROW_AFTER`` (they wait on slow
  servers rather than work), up to ``MAX_CONNECTORS``. Steps on loopback or a
  fast network are CPU work under one GIL, where more threads would only
  contend; a provider slow to answer gets more connectors, so it does not
  hold up the other streams' starts. A connector with nothing to do for ``IDLE_EXIT`` seconds
  ends, so an idle process keeps none.
* A step blocks its connector while it connects and waits for the response
  head; a stream that is *streaming* holds no thread at all (the shared reader
  reads its body).
* Steps never raise (each ends its stream or hands it on); one that does by a
  bug is logged and the connector goes on.
* A forked child starts with an empty pool of its own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

from ..transport._timeouts import schedule

__all__ = ["GROW_AFTER", "IDLE_EXIT", "MAX_CONNECTORS", "MIN_CONNECTORS", "ConnectorPool",
           "connectors"]

log = logging.getLogger("streamactors")

#: Most connector threads at once, process-wide.
MAX_CONNECTORS = 64
#: Connectors started without waiting to see whether more are needed.
MIN_CONNECTORS = 4
#: Every connector busy with its step this long (seconds) while steps wait:
#: start another.
GROW_AFTER = 0.02
#: Seconds an idle connector waits for work before it ends.
IDLE_EXIT = 5.0


class ConnectorPool:
    """Threads that run queued steps, started by need, ended when idle."""

    def __init__(self, max_threads: int = MAX_CONNECTORS, idle_exit: float = IDLE_EXIT,
                 min_threads: int = MIN_CONNECTORS, grow_after: float = GROW_AFTER) -> None:
        self._max = max_threads
        self._min = min(min_threads, max_threads)
        self._idle_exit = idle_exit
        self._grow_after = grow_after
        self._cond = threading.Condition(threading.Lock())
        self._work: deque[Callable[[], None]] = deque()
        #: connector thread id -> when its current step started
        self._busy: dict[int, float] = {}
        self._threads = 0
        self._idle = 0
        self._started = 0
        self._watching = False  # a growth check is scheduled

    def submit(self, step: Callable[[], None]) -> None:
        """Run ``step`` on a connector thread, soon."""
        with self._cond:
            self._work.append(step)
            if self._idle >= len(self._work):
                self._cond.notify()
                return
            name = self._grow(self._min)
            watch = name is None and not self._watching and self._threads < self._max
            self._watching = self._watching or watch
        if name is not None:
            threading.Thread(target=self._run, name=name, daemon=True).start()
        if watch:
            schedule(self._grow_after, self._watch)

    def _watch(self) -> None:
        """(The deadline thread.) Every connector is busy and steps wait: grow
        while the oldest one waited too long; look again while any waits."""
        with self._cond:
            name = self._grow(self._max) if self._stuck() else None
            again = bool(self._work) and self._threads < self._max
            self._watching = again
        if name is not None:
            threading.Thread(target=self._run, name=name, daemon=True).start()
        if again:
            schedule(self._grow_after, self._watch)

    def _grow(self, limit: int) -> str | None:
        """(Lock held.) Count a new connector if fewer than ``limit`` run;
        its thread's name, or None."""
        if self._threads >= limit:
            return None
        self._threads += 1
        self._started += 1
        return f"streamactors-connector-{self._started}"

    def _stuck(self) -> bool:
        """(Lock held.) Steps wait while every connector has been on its step
        for longer than ``GROW_AFTER``."""
        if not self._work or self._idle:
            return False
        return not self._busy or time.monotonic() - max(self._busy.values()) > self._grow_after

    @property
    def threads(self) -> int:
        """Connector threads alive now."""
        with self._cond:
            return self._threads

    def _next(self, me: int) -> Callable[[], None] | None:
        """The next step (None: idle for too long, this connector ends)."""
        with self._cond:
            self._busy.pop(me, None)
            while not self._work:
                self._idle += 1
                try:
                    if not self._cond.wait(self._idle_exit) and not self._work:
                        self._threads -= 1
                        return None
                finally:
                    self._idle -= 1
            self._busy[me] = time.monotonic()
            return self._work.popleft()

    def _run(self) -> None:
        me = threading.get_ident()
        while True:
            step = self._next(me)
            if step is None:
                return
            try:
                step()
            except BaseException:  # a step ends its own stream; this is a bug
                log.error("a stream's connector step failed", exc_info=True)


_pool = ConnectorPool()


def connectors() -> ConnectorPool:
    """The process's connector pool."""
    return _pool


def _after_fork_in_child() -> None:
    global _pool
    _pool = ConnectorPool()  # the parent's threads do not exist here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
