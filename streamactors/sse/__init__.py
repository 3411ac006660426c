"""Server-sent events, sans I/O: bytes -> ``ServerSentEvent`` and back.

``SSEDecoder`` implements the WHATWG "event stream interpretation" exactly
(CR/LF/CRLF line ends, BOM, comments, ``id`` persistence, ``retry``) with a
bound on the size of one pending event; ``encode`` writes one event. Nothing
here performs I/O, starts threads or imports an HTTP library.

``to_sse`` and ``to_sse_async`` re-emit a stream's messages as an SSE body (for
a web response). They know the library's messages and results, so they live
with the web pieces (``streamactors.web._reemit``) and are loaded from there
on first use: ``import streamactors.sse`` stays standard library only.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._decoder import DEFAULT_MAX_EVENT_BYTES, SSEDecoder
from ._encoder import encode
from ._event import ServerSentEvent

if _typing.TYPE_CHECKING:
    from ..web._reemit import SSEFormat as SSEFormat
    from ..web._reemit import to_sse as to_sse
    from ..web._reemit import to_sse_async as to_sse_async

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "SSEDecoder",
    "SSEFormat",
    "ServerSentEvent",
    "encode",
    "to_sse",
    "to_sse_async",
]

_REEMIT = frozenset({"SSEFormat", "to_sse", "to_sse_async"})


def __getattr__(name: str) -> _typing.Any:
    if name not in _REEMIT:
        raise AttributeError(f"module 'streamactors.sse' has no attribute {name!r}")
    value = getattr(_importlib.import_module("streamactors.web._reemit"), name)
    globals()[name] = value
    return value

