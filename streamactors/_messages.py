"""The three messages a stream sends to its target, in this order:
any number of ``Data``, then exactly one ``Error`` or ``Finish``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._chunk import Chunk
from ._result import StreamResult
from .errors import StreamError

if TYPE_CHECKING:
    from ._handle import StreamHandle

__all__ = ["Data", "Error", "Finish", "Message"]


@dataclass(frozen=True, slots=True)
class Data:
    """One chunk of the stream ``stream``."""

    stream: StreamHandle
    chunk: Chunk


@dataclass(frozen=True, slots=True)
class Error:
    """The stream failed; ``error.partial`` holds what it had delivered."""

    stream: StreamHandle
    error: StreamError


@dataclass(frozen=True, slots=True)
class Finish:
    """The stream ended normally with ``result``."""

    stream: StreamHandle
    result: StreamResult


Message = Data | Error | Finish
