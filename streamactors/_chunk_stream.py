"""``ChunkStream``: the iterator ``stream()`` returns, over the handle's own
bounded channel."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from ._chunk import Chunk
from ._output import OutputSpec
from ._partials import PartialOutput
from ._result import StreamResult
from ._tools import ToolSpec
from .actors._sinks import Channel
from .actors._stream import StreamHandle
from .errors import UsageError

__all__ = ["ChunkStream"]


class ChunkStream:
    """The iterator ``stream()`` returns: chunks in order, then the stream's
    error raised if it failed. ``handle`` gives the result afterwards.

    The stream stops the moment nobody reads it: leaving the ``for`` loop
    early (``break``, an exception, a ``return``) cancels it at once, even
    while this object is still referenced, because the loop holds the only
    reference to the iterator it got; so do ``close()`` and leaving a
    ``with`` block. It can be iterated once: iterating it again is a
    ``UsageError``, never a silent empty loop.
    """

    def __init__(self, handle: StreamHandle, channel: Channel,
                 output: OutputSpec | None = None,
                 tools: Mapping[str, ToolSpec] | None = None) -> None:
        self.handle = handle
        self._channel = channel
        self._output = output
        self._tools = tools
        self._given = False
        #: the iterator ``next()`` calls use (a for loop never leaves one here)
        self._it: Generator[Chunk, None, None] | None = None

    def __iter__(self) -> Generator[Chunk, None, None]:
        # The generator itself (a for loop pays no wrapper call per chunk),
        # not kept here: when the loop ends early and drops it, its cleanup
        # cancels the stream at once.
        if self._it is not None:  # next() came first: the loop takes over
            it, self._it = self._it, None
            return it
        if self._given:
            raise UsageError(self._again())
        self._given = True
        return self._channel.chunks(self.handle)

    def __next__(self) -> Chunk:
        if self._it is None:
            if self._given:
                if self._channel.consumed == "ended":
                    raise StopIteration
                raise UsageError(self._again())
            self._given = True
            self._it = self._channel.chunks(self.handle)
        return next(self._it)

    def partials(self) -> Generator[Any, None, None]:
        """Iterate the answer's partial JSON value as it grows (instead of
        the chunks; leaving the loop early cancels the stream as well), and
        a ``PartialToolCall`` for each tool call whose arguments grew.

        With ``response_format=`` a model class, each value is shaped like
        the model (its instances, fields not yet seen None; not validated);
        the validated answer is ``result.parsed`` once the loop ended, and an
        answer that is not the model is raised as ``OutputValidationError``.
        Without, the values are plain JSON values, and text that is not JSON
        raises ``OutputValidationError`` at the end of the stream.
        """
        if self._given:
            raise UsageError(self._again())
        self._given = True
        partial = PartialOutput(self._output, self._tools)
        # One value per step the consumer takes: the chunks that arrived
        # meanwhile are read together, and shaped once.
        for chunks in self._channel.rounds(self.handle):
            for chunk in chunks:
                partial.add(chunk)
            yield from partial.step()
        if partial.error is not None and self._output is None:
            raise partial.error

    def _again(self) -> str:
        if self._channel.consumed == "abandoned":
            return (f"{self.handle.id}: this stream() was left early (break or an exception) "
                    "and was cancelled then; a stream() can be iterated once: start a new one")
        return (f"{self.handle.id}: this stream() was already iterated; a stream() can be "
                "iterated once: read its outcome with .result / .handle, or start a new one")

    @property
    def result(self) -> StreamResult | None:
        return self.handle.result

    def close(self) -> None:
        """Cancel the stream if it is still running."""
        if self._it is not None:
            self._it.close()
        self._given = True
        if not self.handle.done():
            self.handle.cancel()

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Never iterated: nobody will read this stream, so do not let its
        # worker wait on a full buffer forever.
        try:
            if not self._given and not self.handle.done():
                self.handle.cancel()
        except Exception:
            pass
