"""Live streams and actors, so interpreter exit ends every one of them.

At exit (before Python joins non-daemon threads) every live stream is
cancelled with reason ``shutdown`` (its target still gets its one ``Error``),
then every running actor is stopped after handling what it holds. Nothing
hangs and nothing prints a traceback.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._client import StreamingClient
    from ._handle import StreamHandle

__all__ = ["live_streams", "register_actor", "register_stream", "unregister_stream"]

_lock = threading.Lock()
_streams: set[StreamHandle] = set()
_actors: weakref.WeakSet[StreamingClient] = weakref.WeakSet()
_hooked = False
_EXIT_GRACE = 2.0


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


def register_actor(actor: StreamingClient) -> None:
    with _lock:
        _actors.add(actor)
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
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
    with _lock:
        actors = list(_actors)
    for actor in actors:
        actor.stop()
    for actor in actors:
        if actor._thread is not threading.current_thread():
            actor.join(max(0.0, deadline - time.monotonic()))
