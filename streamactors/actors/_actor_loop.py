"""The thread of a ``StreamingClient``: it takes rounds of mail from the
actor's ``_Mailbox`` and calls the actor's handler methods one at a time,
supervising them.

* ``on_start`` first; if it raises, ``on_failure(exc, None)`` and the actor
  stops (``on_stop`` does not run: it never started).
* Each round is handled in order. The chunks of a stream whose handler
  failed are skipped until that stream's terminal message arrives.
* An exception in ``handle_data``/``handle_error``/``handle_finish`` calls
  ``on_failure(exc, message)``, then ``failure_policy`` decides:
  ``"cancel_stream"`` cancels the stream whose message failed (the rest of
  its chunks are skipped), ``"ignore"`` carries on, ``"stop"`` cancels every
  stream and stops the actor.
* A BaseException (SystemExit...) escapes supervision: it is reported, the
  actor stops, the streams flowing in are cancelled and every ``ask`` not yet
  run fails, so nobody waits forever on a dead thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .._partials import PartialOutput
from ._mail import _STOP, Handlers, MailboxView, _Ask, _Batch, _Item
from ._stream import Data, Error, Finish, Message

if TYPE_CHECKING:
    from ._stream import StreamHandle

__all__ = ["_ActorLoop"]

log = logging.getLogger("streamactors")


def _defines_handle_partial(actor: Handlers) -> bool:
    """Whether a subclass defines ``handle_partial`` (not only the no-op of
    ``StreamingClient``, in ``_client``): only then are answers parsed."""
    for cls in type(actor).__mro__:
        if "handle_partial" in vars(cls):
            return cls.__module__ != f"{__package__}._client"
    return False


class _ActorLoop:
    """Runs on the actor's thread (``run`` is the thread's target)."""

    __slots__ = ("_actor", "_box", "_failed", "_partials")

    def __init__(self, actor: Handlers, box: MailboxView) -> None:
        self._actor = actor
        self._box = box
        #: Streams whose handler failed: their remaining chunks are skipped.
        self._failed: set[StreamHandle] = set()
        #: Each live stream's partial answer, when the actor's class defines
        #: ``handle_partial`` (None when it does not: nothing is parsed).
        self._partials: dict[StreamHandle, PartialOutput] | None = (
            {} if _defines_handle_partial(actor) else None)

    def run(self) -> None:
        actor = self._actor
        try:
            actor.on_start()
        except Exception as exc:
            self._safe_failure(exc, None)
            self._refuse(self._box.abandon())
            return
        try:
            self._loop()
        except BaseException as exc:
            # Handler Exceptions are supervised; only a BaseException raised by
            # a handler (SystemExit...) or a bug gets here. Never die silently:
            # report it, refuse new streams and cancel those flowing in (their
            # workers would wait forever on a full mailbox), fail pending asks.
            log.critical("%r: the mailbox thread died (%r); stopping the actor", actor, exc)
            self._safe_failure(exc, None)
            self._refuse(self._box.abandon())
        finally:
            try:
                actor.on_stop()
            except Exception as exc:
                self._safe_failure(exc, None)

    def _loop(self) -> None:
        take_round = self._box.take_round
        while True:
            items = take_round()
            try:
                if self._handle(items):
                    return
            except BaseException:
                self._refuse(items)  # the asks of this round must not wait forever
                raise

    def _handle(self, items: list[_Item]) -> bool:
        """Handle one round of mail, in order; True once the stop marker came."""
        handle_data = self._actor.handle_data
        failed = self._failed
        for item in items:
            if type(item) is _Batch:
                stream = item.handle
                if failed and stream in failed:
                    continue
                for chunk in item:
                    try:
                        handle_data(chunk, stream)
                    except Exception as exc:
                        if self._handler_failed(exc, Data(stream, chunk)):
                            break
                if self._partials is not None and stream not in failed:
                    self._partial(item)
            elif item is _STOP:
                self._refuse(items[items.index(item) + 1 :])
                return True
            else:
                self._dispatch(item)
        return False

    def _partial(self, batch: _Batch) -> None:
        """Feed a delivery's text to its stream's partial answer; if it grew,
        ``handle_partial`` once."""
        assert self._partials is not None
        stream = batch.handle
        partial = self._partials.get(stream)
        if partial is None:
            partial = PartialOutput(stream._output, stream._tool_specs)
            self._partials[stream] = partial
        for chunk in batch:
            partial.add(chunk)
        for value in partial.step():
            try:
                self._actor.handle_partial(value, stream)
            except Exception as exc:
                if self._handler_failed(exc, Data(stream, batch[-1])):
                    return

    def _dispatch(self, item: _Item) -> None:
        """A terminal message or an ``ask``."""
        if type(item) is _Ask:
            item.run()
            return
        assert isinstance(item, (Error, Finish))
        self._failed.discard(item.stream)
        if self._partials is not None:
            self._partials.pop(item.stream, None)
        actor = self._actor
        try:
            if type(item) is Finish:
                actor.handle_finish(item.result, item.stream)
            else:
                assert isinstance(item, Error)
                actor.handle_error(item.error, item.stream)
        except Exception as exc:
            self._handler_failed(exc, item)

    def _refuse(self, rest: list[_Item]) -> None:
        """Fail the asks in ``rest`` that have not run: the actor stopped."""
        for item in rest:
            if type(item) is _Ask and not item.future.done():
                item.future.set_exception(RuntimeError(f"{self._actor!r} stopped"))

    def _handler_failed(self, exc: Exception, message: Message) -> bool:
        """Supervise: ``on_failure``, then ``failure_policy``. True when the
        rest of the failed stream's batch must be skipped."""
        self._safe_failure(exc, message)
        policy = self._actor.failure_policy
        if policy == "ignore":
            return False
        if isinstance(message, Data):
            # First, so the failed stream's error says why (and carries exc).
            self._failed.add(message.stream)
            message.stream._token.cancel("handler_failed", exc)
        if policy == "stop":
            self._box.stop(cancel_streams=True)
        return True

    def _safe_failure(self, exc: BaseException, message: Message | None) -> None:
        try:
            self._actor.on_failure(exc, message)
        except Exception:
            log.exception("%r: on_failure itself raised", self._actor)
