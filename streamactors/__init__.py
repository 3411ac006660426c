"""streamactors: streaming LLM responses with actor-style concurrency.

Every stream is a worker: it sends the request with ``requests``, decodes the
provider's stream and delivers ordered messages (``Data``, then exactly one
``Error`` or ``Finish``) to a ``StreamingClient`` actor, a queue, asyncio
(through janus) or a callable.

The house, bottom up (every layer imports only the ones below it):

* ``_wire`` (HTTP body framing), ``sse`` and ``ndjson`` (event framing):
  sans-I/O, standard library only;
* ``errors``, ``_chunk``, ``_result``, ``accumulate`` and ``providers`` (the
  codecs): data in, data out;
* ``transport``: the only package that touches requests, urllib3 and
  http.client (sending, reading bodies, cancel, time limits, the reader
  thread);
* ``actors``: a stream's handle, pipeline and worker, the targets
  (``StreamingClient``, queues, callables, asyncio);
* ``api``, ``router``, ``metrics``: the public surface; ``web`` (the relay),
  ``cli`` and ``testing`` on top.

The names below are loaded on first use, so ``import streamactors.sse`` costs
no more than the standard library, and ``import streamactors`` does not load
the relay's HTTP server.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._version import __version__ as __version__

if _typing.TYPE_CHECKING:
    from . import metrics as metrics
    from ._chunk import FINISH_REASONS as FINISH_REASONS
    from ._chunk import Chunk as Chunk
    from ._chunk import ToolCallDelta as ToolCallDelta
    from ._chunk import Usage as Usage
    from ._chunk_stream import ChunkStream as ChunkStream
    from ._options import NOT_GIVEN as NOT_GIVEN
    from ._options import NotGiven as NotGiven
    from ._options import StreamTarget as StreamTarget
    from ._options import SupportsPut as SupportsPut
    from ._partials import PartialToolCall as PartialToolCall
    from ._request_fields import CompletionFields as CompletionFields
    from ._request_fields import RequestFields as RequestFields
    from ._result import Choice as Choice
    from ._result import StreamResult as StreamResult
    from ._result import ToolCall as ToolCall
    from .accumulate import Accumulator as Accumulator
    from .actors._aio import AsyncChunkStream as AsyncChunkStream
    from .actors._client import StreamingClient as StreamingClient
    from .actors._stream import Data as Data
    from .actors._stream import Error as Error
    from .actors._stream import Finish as Finish
    from .actors._stream import Message as Message
    from .actors._stream import StreamHandle as StreamHandle
    from .api import Client as Client
    from .api import astream as astream
    from .api import chat as chat
    from .api import close as close
    from .api import complete as complete
    from .api import stream as stream
    from .errors import AuthenticationError as AuthenticationError
    from .errors import BadRequestError as BadRequestError
    from .errors import ConfigurationError as ConfigurationError
    from .errors import ConflictError as ConflictError
    from .errors import ConnectTimeout as ConnectTimeout
    from .errors import DeadlineExceeded as DeadlineExceeded
    from .errors import FirstTokenTimeout as FirstTokenTimeout
    from .errors import HTTPStatusError as HTTPStatusError
    from .errors import IdleTimeout as IdleTimeout
    from .errors import IncompleteStream as IncompleteStream
    from .errors import InternalServerError as InternalServerError
    from .errors import NotFoundError as NotFoundError
    from .errors import OutputValidationError as OutputValidationError
    from .errors import OverloadedError as OverloadedError
    from .errors import PermissionDeniedError as PermissionDeniedError
    from .errors import ProtocolError as ProtocolError
    from .errors import ProviderError as ProviderError
    from .errors import RateLimitError as RateLimitError
    from .errors import ReadTimeout as ReadTimeout
    from .errors import RequestTimeoutError as RequestTimeoutError
    from .errors import ServiceUnavailableError as ServiceUnavailableError
    from .errors import StreamCancelled as StreamCancelled
    from .errors import StreamConnectionError as StreamConnectionError
    from .errors import StreamError as StreamError
    from .errors import StreamTimeout as StreamTimeout
    from .errors import UnprocessableEntityError as UnprocessableEntityError
    from .errors import UsageError as UsageError
    from .partial_json import PartialJSON as PartialJSON
    from .router import Router as Router
    from .transport._timeouts import Timeout as Timeout
    from .web._relay import RelayServer as RelayServer

#: Public name -> the module that defines it (relative to this package).
_WHERE: dict[str, str] = {
    "metrics": ".",
    "FINISH_REASONS": "._chunk",
    "Chunk": "._chunk",
    "ToolCallDelta": "._chunk",
    "Usage": "._chunk",
    "ChunkStream": "._chunk_stream",
    "NOT_GIVEN": "._options",
    "NotGiven": "._options",
    "StreamTarget": "._options",
    "SupportsPut": "._options",
    "CompletionFields": "._request_fields",
    "RequestFields": "._request_fields",
    "Choice": "._result",
    "StreamResult": "._result",
    "ToolCall": "._result",
    "Accumulator": ".accumulate",
    "AsyncChunkStream": ".actors._aio",
    "StreamingClient": ".actors._client",
    "StreamHandle": ".actors._stream",
    "Data": ".actors._stream",
    "Error": ".actors._stream",
    "Finish": ".actors._stream",
    "Message": ".actors._stream",
    "Client": ".api",
    "astream": ".api",
    "chat": ".api",
    "close": ".api",
    "complete": ".api",
    "stream": ".api",
    "AuthenticationError": ".errors",
    "BadRequestError": ".errors",
    "ConfigurationError": ".errors",
    "ConflictError": ".errors",
    "ConnectTimeout": ".errors",
    "DeadlineExceeded": ".errors",
    "FirstTokenTimeout": ".errors",
    "HTTPStatusError": ".errors",
    "IdleTimeout": ".errors",
    "IncompleteStream": ".errors",
    "InternalServerError": ".errors",
    "NotFoundError": ".errors",
    "OutputValidationError": ".errors",
    "OverloadedError": ".errors",
    "PermissionDeniedError": ".errors",
    "ProtocolError": ".errors",
    "ProviderError": ".errors",
    "RateLimitError": ".errors",
    "ReadTimeout": ".errors",
    "RequestTimeoutError": ".errors",
    "ServiceUnavailableError": ".errors",
    "StreamCancelled": ".errors",
    "StreamConnectionError": ".errors",
    "StreamError": ".errors",
    "StreamTimeout": ".errors",
    "UnprocessableEntityError": ".errors",
    "UsageError": ".errors",
    "PartialJSON": ".partial_json",
    "PartialToolCall": "._partials",
    "Router": ".router",
    "Timeout": ".transport._timeouts",
    "RelayServer": ".web._relay",
}


def __getattr__(name: str) -> _typing.Any:
    if name == "metrics":
        value: _typing.Any = _importlib.import_module(".metrics", __name__)
    else:
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module 'streamactors' has no attribute {name!r}")
        value = getattr(_importlib.import_module(where, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(n for n in globals() if n.startswith("_"))})


__all__ = [
    "Accumulator",
    "AsyncChunkStream",
    "AuthenticationError",
    "BadRequestError",
    "Choice",
    "Chunk",
    "ChunkStream",
    "Client",
    "CompletionFields",
    "ConfigurationError",
    "ConflictError",
    "ConnectTimeout",
    "Data",
    "DeadlineExceeded",
    "Error",
    "FINISH_REASONS",
    "Finish",
    "FirstTokenTimeout",
    "HTTPStatusError",
    "IdleTimeout",
    "IncompleteStream",
    "InternalServerError",
    "Message",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "OutputValidationError",
    "OverloadedError",
    "PartialJSON",
    "PartialToolCall",
    "PermissionDeniedError",
    "ProtocolError",
    "ProviderError",
    "RateLimitError",
    "ReadTimeout",
    "RelayServer",
    "RequestFields",
    "RequestTimeoutError",
    "Router",
    "ServiceUnavailableError",
    "StreamCancelled",
    "StreamConnectionError",
    "StreamError",
    "StreamHandle",
    "StreamResult",
    "StreamTarget",
    "StreamTimeout",
    "StreamingClient",
    "SupportsPut",
    "Timeout",
    "ToolCall",
    "ToolCallDelta",
    "UnprocessableEntityError",
    "Usage",
    "UsageError",
    "__version__",
    "astream",
    "chat",
    "close",
    "complete",
    "metrics",
    "stream",
]
