"""Whether a response starts a stream: a 2xx status and, for SSE, an event
stream, not a proxy's HTML page or a JSON error served with status 200; and
whether the body that ended held a whole answer.

Each refusal is the typed error a user can act on: the provider's own error
for a non-2xx status, ``ProviderError`` for a JSON error body, otherwise
``ProtocolError`` with the start of the body.
"""

from __future__ import annotations

import json

from ..accumulate import Accumulator
from ..errors import IncompleteStream, ProtocolError, ProviderError
from ..providers import HTTPRequest, Provider
from ..transport._base import Response

__all__ = ["check_complete", "check_response"]


def check_response(response: Response, provider: Provider, request: HTTPRequest,
                   provider_name: str) -> None:
    """Raise the typed error of a response that does not start a stream."""
    status = response.status_code
    if not 200 <= status < 300:
        body = response.read_all()
        raise provider.error_from_response(status, response.headers, body)
    ctype = response.headers.get("content-type", "").lower()
    if request.framing != "sse" or not ctype or "event-stream" in ctype:
        return
    if "html" in ctype:
        text = response.read_all(64 * 1024).decode("utf-8", "replace")
        raise ProtocolError(
            f"expected an event stream, got {ctype} (an error page from a proxy?)",
            payload=text,
        )
    if "json" in ctype:  # a JSON error served as the answer
        text = response.read_all().decode("utf-8", "replace")
        _raise_reported_error(text, provider_name)
        raise ProtocolError(f"expected an event stream, got {ctype}", payload=text)
    # Any other type (text/plain from some compatible servers) is read as
    # the event stream it most likely is; a wrong body fails in the decoder.


def _raise_reported_error(body: str, provider_name: str) -> None:
    try:
        data = json.loads(body)
    except ValueError:
        return
    err = data.get("error") if isinstance(data, dict) else None
    if err:
        message = err.get("message") if isinstance(err, dict) else str(err)
        raise ProviderError(f"{provider_name} reported an error: {message}",
                            provider_message=message, body=body)


def check_complete(acc: Accumulator, stream_id: str) -> None:
    """``IncompleteStream`` unless a finish reason arrived."""
    if acc.complete:
        return
    if acc.chunks:
        raise IncompleteStream(f"{stream_id}: the stream ended before any finish reason "
                               f"(after {acc.chunks} chunks): the answer is cut")
    raise IncompleteStream(f"{stream_id}: the server closed the stream without sending any "
                           "data")
