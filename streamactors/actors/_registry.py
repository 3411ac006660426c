"""Live streams and actors, so interpreter exit ends every one of them.

At exit (before Python joins non-daemon threads) every live stream is
cancelled with reason ``shutdown`` (its target still gets its one ``Error``),
then every running actor is stopped after handling what it holds. Streams
and actors share a grace period of ``_EXIT_GRACE`` seconds: an actor's
thread is a daemon, so one whose handler never returns is abandoned when the
grace period is over instead of keeping the process alive. Nothing hangs and
nothing prints a traceback.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._stream import StreamHandle


class _Actor(Protocol):
    """What exit needs of a running actor (its mailbox)."""

    @property
    def thread(self) -> threading.Thread | None: ...

    def stop(self, cancel_streams: bool) -> None: ...

    def join(self, timeout: float | None) -> bool: ...


__all__ = ["live_streams", "register_actor", "register_stream", "unregister_stream"]

_lock = threading.Lock()
_streams: set[StreamHandle] = set()
#: The mailboxes of started actors (a running one is kept alive by its thread).
_actors: weakref.WeakSet[_Actor] = weakref.WeakSet()
_hooked = False
_EXIT_GRACE = 2.0


def _after_fork_in_child() -> None:
    """A forked child runs none of the parent's streams or actors: forget
    them (cancelling them at the child's exit would shut down sockets the
    parent still reads), and take a fresh lock (another thread may have held
    this one at the fork)."""
    global _lock, _streams, _actors
    _lock = threading.Lock()
    _streams = set()
    _actors = weakref.WeakSet()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _hook() -> None:
    global _hooked
    if not _hooked:
        _hooked = True
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            register(_at_exit)
        else:  # pragma: no cover - very old Pythons
            import atexit

            atexit.register(_at_exit)


def register_stream(handle: StreamHandle) -> None:
    with _lock:
        _streams.add(handle)
        _hook()


def unregister_stream(handle: StreamHandle) -> None:
    with _lock:
        _streams.discard(handle)


def register_actor(mailbox: _Actor) -> None:
    """Stop this actor (its mailbox) at interpreter exit."""
    with _lock:
        _actors.add(mailbox)
        _hook()


def live_streams() -> list[StreamHandle]:
    """Streams whose worker has not finished yet."""
    with _lock:
        return list(_streams)


def _at_exit() -> None:
    deadline = time.monotonic() + _EXIT_GRACE
    for handle in live_streams():
        handle._token.cancel("shutdown")
    for handle in live_streams():
        thread = handle._thread
        left = max(0.0, deadline - time.monotonic())
        if thread is None:  # a stream without a thread of its own: its end
            handle._done.wait(left)
        elif thread is not threading.current_thread():
            thread.join(left)
    with _lock:
        actors = list(_actors)
    # Stop them all first: they handle what they hold side by side, so one
    # handler that never returns does not eat the others' grace period.
    for mailbox in actors:
        mailbox.stop(cancel_streams=False)
    for mailbox in actors:
        if mailbox.thread is not threading.current_thread():
            mailbox.join(max(0.0, deadline - time.monotonic()))
