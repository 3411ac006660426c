"""What goes through an actor's mailbox: one small type per kind of mail,
so the mailbox loop tells them apart with one ``type(item) is ...`` test.

* ``_Batch``: the chunks of one socket read of one stream (the hot path): a
  list of chunks, so that the mailbox's ``Buffer`` bounds it like any batch,
  which also names its stream;
* ``Error`` / ``Finish``: a stream's terminal message, as delivered;
* ``_Ask``: a function to run on the actor's thread (``StreamingClient.ask``);
* ``_STOP``: the stop marker (``StreamingClient.stop``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .._chunk import Chunk
from ._stream import Error, Finish

if TYPE_CHECKING:
    from .._result import StreamResult
    from ..errors import StreamError
    from ._stream import Message, StreamHandle

__all__ = ["_STOP", "Handlers", "MailboxView", "_Ask", "_Batch", "_Item", "_Other", "_Stop"]

FailurePolicy = Literal["cancel_stream", "ignore", "stop"]


class Handlers(Protocol):
    """What the mailbox and its loop use of the actor: its hooks and handler
    methods (a ``StreamingClient``; named here so the mailbox and the loop do
    not import the class that owns them)."""

    failure_policy: FailurePolicy
    linger: float
    mailbox_warning: int

    def on_start(self) -> None: ...

    def on_stop(self) -> None: ...

    def on_failure(self, exc: BaseException, message: Message | None) -> None: ...

    def handle_data(self, chunk: Chunk, stream: StreamHandle) -> None: ...

    def handle_partial(self, partial: Any, stream: StreamHandle) -> None: ...

    def handle_error(self, error: StreamError, stream: StreamHandle) -> None: ...

    def handle_finish(self, result: StreamResult, stream: StreamHandle) -> None: ...


class MailboxView(Protocol):
    """What the actor's loop uses of its mailbox."""

    def take_round(self) -> list[_Item]: ...

    def abandon(self) -> list[_Item]: ...

    def stop(self, cancel_streams: bool) -> None: ...


class _Batch(list[Chunk]):
    """The chunks of one socket read of ``handle`` (a copy of the list the
    worker delivered: building it costs what a small object of two fields
    did, and the actor's loop iterates it directly)."""

    __slots__ = ("handle",)

    handle: StreamHandle


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
#: The mail other than batches (never refused for lack of room).
_Other = _Ask | _Stop | Error | Finish
_Item = _Batch | _Other
