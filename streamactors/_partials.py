"""The partial answer of one stream, as ``partials()`` and ``handle_partial``
see it: the answer's JSON and each tool call's arguments, as they grow.
Sans I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel

from ._chunk import Chunk, ToolCallDelta
from ._output import OutputSpec
from ._shapes import Shaper
from ._tools import ToolSpec
from .errors import OutputValidationError
from .partial_json import PartialJSON

__all__ = ["PartialOutput", "PartialToolCall"]


class PartialToolCall(NamedTuple):
    """A tool call while it streams.

    Attributes:
        index: which call of the answer (0, 1...), as in ``ToolCall.index``.
        id: the call's id, once the provider sent it.
        name: the tool's name, once the provider sent it.
        arguments: the arguments so far: an instance of the tool's model
            (fields not seen yet None; not validated) when ``tools=`` gave it
            as a model or a function, else the partial JSON value.
    """

    index: int  # type: ignore[assignment]  # shadows tuple.index, as ToolCallDelta does
    id: str | None
    name: str | None
    arguments: Any


class _Growing:
    """Text that grows into a JSON value: fed at each step, shaped on demand."""

    __slots__ = ("_parser", "_pending", "_shaper", "error")

    def __init__(self, model: type[BaseModel] | None) -> None:
        self._parser = PartialJSON()
        self._pending: list[str] = []
        self._shaper = None if model is None else Shaper(model)
        self.error: OutputValidationError | None = None

    def add(self, text: str) -> None:
        self._pending.append(text)

    def step(self) -> bool:
        """Read the text added since the last step (in one go: tokens split
        across chunks come whole); True if there is a value to show."""
        if not self._pending or self.error is not None:
            return False
        text = "".join(self._pending)
        self._pending.clear()
        try:
            self._parser.feed(text)
        except OutputValidationError as exc:
            self.error = exc
            return False
        return self._parser.has_value

    def value(self) -> Any:
        value = self._parser.value
        if self._shaper is None:
            return value
        return self._shaper.shape(value, self._parser.open_containers)


class _Call:
    __slots__ = ("arguments", "id", "name")

    def __init__(self, delta: ToolCallDelta, tools: Mapping[str, ToolSpec]) -> None:
        self.id = delta.id
        self.name = delta.name
        spec = tools.get(delta.name or "")
        self.arguments = _Growing(None if spec is None else spec.model)


class PartialOutput:
    """``add`` each chunk, then ``step()`` once per step the consumer takes:
    the values that grew since the last step, the answer's first (shaped
    like its model, if any), then a ``PartialToolCall`` per call that grew.
    Values grow in place: copy one to keep it as it was.

    Text that stops being JSON stops that value's partials; the answer's
    error is kept in ``error`` (a stream with an ``OutputSpec`` then ends with
    it anyway). Only the first choice is followed (``n`` > 1 interleaves).
    """

    __slots__ = ("_answer", "_calls", "_tools")

    def __init__(self, spec: OutputSpec | None,
                 tools: Mapping[str, ToolSpec] | None = None) -> None:
        self._answer = _Growing(None if spec is None else spec.model)
        self._tools: Mapping[str, ToolSpec] = tools or {}
        self._calls: dict[int, _Call] = {}

    @property
    def error(self) -> OutputValidationError | None:
        return self._answer.error

    def add(self, chunk: Chunk) -> None:
        if chunk.index != 0:
            return
        if chunk.text:
            self._answer.add(chunk.text)
        for delta in chunk.tool_calls:
            call = self._calls.get(delta.index)
            if call is None or (delta.id is not None and call.id not in (None, delta.id)):
                call = self._calls[delta.index] = _Call(delta, self._tools)
            if delta.arguments:
                call.arguments.add(delta.arguments)

    def step(self) -> list[Any]:
        grown: list[Any] = []
        if self._answer.step():
            grown.append(self._answer.value())
        for index, call in self._calls.items():
            if call.arguments.step():
                grown.append(PartialToolCall(index, call.id, call.name, call.arguments.value()))
        return grown
