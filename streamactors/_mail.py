"""What goes through an actor's mailbox: one small type per kind of mail,
so the mailbox loop tells them apart with one ``type(item) is ...`` test.

* ``_Batch``: the chunks of one socket read of one stream (the hot path);
* ``Error`` / ``Finish``: a stream's terminal message, as delivered;
* ``_Ask``: a function to run on the actor's thread (``StreamingClient.ask``);
* ``_STOP``: the stop marker (``StreamingClient.stop``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ._messages import Error, Finish

if TYPE_CHECKING:
    from ._chunk import Chunk
    from ._handle import StreamHandle

__all__ = ["_STOP", "_Ask", "_Batch", "_Item", "_Stop"]


class _Batch:
    """The chunks of one socket read of one stream."""

    __slots__ = ("chunks", "handle")

    def __init__(self, handle: StreamHandle, chunks: list[Chunk]) -> None:
        self.handle = handle
        self.chunks = chunks


class _Ask:
    """``fn`` to run on the actor's thread, its outcome set on ``future``."""

    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[], Any], future: Future[Any]) -> None:
        self.fn = fn
        self.future = future

    def run(self) -> None:
        if self.future.set_running_or_notify_cancel():
            try:
                self.future.set_result(self.fn())
            except BaseException as exc:
                self.future.set_exception(exc)


class _Stop:
    """The stop marker: what is before it is handled, nothing after."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<stop>"


_STOP = _Stop()
_Item = _Batch | _Ask | _Stop | Error | Finish
