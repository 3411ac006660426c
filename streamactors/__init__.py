"""streamactors: streaming LLM responses with actor-style concurrency.

Every stream runs in its own worker thread, which sends the request with
``requests``, decodes the provider's stream and delivers ordered messages —
``Data``, then exactly one ``Error`` or ``Finish`` — to a ``StreamingClient``
actor, a queue, asyncio (through janus) or a callable.

Layers, bottom up: ``sse``/``ndjson`` (framing, sans-I/O), ``providers``
(codecs, sans-I/O), ``accumulate`` (pure fold), ``_transport`` (requests),
``_worker`` (one thread per stream), ``_client``/``_sinks``/``_handle``
(actors and targets), ``api`` (this surface), ``testing`` and ``cli``.
"""

from . import metrics as metrics
from ._chunk import FINISH_REASONS as FINISH_REASONS
from ._chunk import Chunk as Chunk
from ._chunk import ToolCallDelta as ToolCallDelta
from ._chunk import Usage as Usage
from ._client import StreamingClient as StreamingClient
from ._handle import StreamHandle as StreamHandle
from ._messages import Data as Data
from ._messages import Error as Error
from ._messages import Finish as Finish
from ._messages import Message as Message
from ._relay import RelayServer as RelayServer
from ._result import Choice as Choice
from ._result import StreamResult as StreamResult
from ._result import ToolCall as ToolCall
from ._timeout import Timeout as Timeout
from ._version import __version__ as __version__
from .accumulate import Accumulator as Accumulator
from .api import ChunkStream as ChunkStream
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
from .router import Router as Router

__all__ = [
    "Accumulator",
    "AuthenticationError",
    "BadRequestError",
    "Choice",
    "Chunk",
    "ChunkStream",
    "Client",
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
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProviderError",
    "RateLimitError",
    "ReadTimeout",
    "RelayServer",
    "RequestTimeoutError",
    "Router",
    "ServiceUnavailableError",
    "StreamCancelled",
    "StreamConnectionError",
    "StreamError",
    "StreamHandle",
    "StreamResult",
    "StreamTimeout",
    "StreamingClient",
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
