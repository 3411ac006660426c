"""Ready file descriptors from a selector, as cheaply as the platform allows.

The reader's hot loop wants ``timeout -> [fd, ...]``. ``selectors`` builds a
key object per ready socket, which costs more than reading it; with epoll the
selector's own epoll object is polled directly. Elsewhere the selector is
used as it is.
"""

from __future__ import annotations

import selectors
from collections.abc import Callable, Sized
from typing import Any

__all__ = ["ready_function"]


def ready_function(sel: selectors.BaseSelector,
                   registered: Sized) -> Callable[[float | None], list[int]]:
    """``timeout -> ready file descriptors`` for ``sel``; ``registered`` is
    the live collection of its sockets (epoll returns at most that many)."""
    raw: Any = getattr(sel, "_selector", None)  # the epoll object, where there is one
    if isinstance(sel, getattr(selectors, "EpollSelector", ())) and hasattr(raw, "poll"):
        epoll = raw.poll

        def poll(timeout: float | None) -> list[int]:
            # As EpollSelector: room for every registered socket (epoll's
            # own default stops at 1023 events per call).
            events = epoll(-1 if timeout is None else timeout, len(registered))
            return [fd for fd, _ in events]

        return poll

    select = sel.select

    def generic(timeout: float | None) -> list[int]:
        return [key.fd for key, _ in select(timeout)]

    return generic
