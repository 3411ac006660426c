"""Server-sent events, sans I/O: bytes -> ``ServerSentEvent`` and back.

``SSEDecoder`` implements the WHATWG "event stream interpretation" exactly
(CR/LF/CRLF line ends, BOM, comments, ``id`` persistence, ``retry``) with a
bound on the size of one pending event; ``encode`` writes one event. Nothing
here performs I/O, starts threads or imports an HTTP library.
"""

from __future__ import annotations

from ._decoder import DEFAULT_MAX_EVENT_BYTES, SSEDecoder
from ._encoder import encode
from ._event import ServerSentEvent

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "SSEDecoder",
    "ServerSentEvent",
    "encode",
]

# --- to_sse re-exports (added by the lead) -----------------------------------
# Import the to_sse helpers here and extend __all__ with their names.
from ._reemit import SSEFormat as SSEFormat
from ._reemit import to_sse as to_sse
from ._reemit import to_sse_async as to_sse_async

__all__ += ["SSEFormat", "to_sse", "to_sse_async"]
