"""The partial answer of one stream, as ``partials()`` and ``handle_partial``
see it. Sans I/O."""

from __future__ import annotations

from typing import Any

from ._output import OutputSpec
from ._shapes import Shaper
from .errors import OutputValidationError
from .partial_json import PartialJSON

__all__ = ["PartialOutput"]


class PartialOutput:
    """The partial answer of one stream, for ``partials()`` and
    ``handle_partial``: ``add`` each chunk's text, then ``step()`` once per
    value the consumer takes (the text added meanwhile is parsed in one go:
    tokens split across chunks come whole), then ``value()``.

    Text that stops being JSON stops the partial values; the error is kept in
    ``error`` (a stream with an ``OutputSpec`` then ends with it anyway)."""

    __slots__ = ("_parser", "_pending", "_shaper", "error")

    def __init__(self, spec: OutputSpec | None) -> None:
        self._parser = PartialJSON()
        self._pending: list[str] = []
        model = None if spec is None else spec.model
        self._shaper = None if model is None else Shaper(model)
        self.error: OutputValidationError | None = None

    def add(self, text: str | None) -> None:
        """A chunk's text (read at the next ``step``)."""
        if text:
            self._pending.append(text)

    def step(self) -> bool:
        """Read the text added since the last step; True if there is a
        partial value to show (new text read, and a value started)."""
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
        """The partial value: shaped like the model (instances whose fields
        not seen yet are None; not validated), else the JSON value itself.
        Containers grow in place: copy a value to keep it as it was."""
        value = self._parser.value
        if self._shaper is None:
            return value
        return self._shaper.shape(value, self._parser.open_containers)
