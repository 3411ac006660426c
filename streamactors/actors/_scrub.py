"""Keys out of errors: every text an error carries, and the errors chained to it.

The worker scrubs the one error a stream ends with, at the one boundary where
errors are re-typed, before anything (a target, a log line, a pickle, the
relay) can see it. A provider that echoes the key back (in its message, its
error ``type`` or ``code``, a request id) must not get it any further.
"""

from __future__ import annotations

import re

from ..errors import StreamError
from ..providers import ProviderConfig

__all__ = ["scrub_error", "scrub_text"]

#: Keys shorter than this are scrubbed only where they stand alone: a test
#: key such as "k" must not turn "worker" into "wor***er".
_SHORT_KEY = 8
#: Every text attribute an error may carry.
_TEXT_ATTRIBUTES = ("message", "provider_message", "body", "payload", "type", "code",
                    "request_id")


def scrub_text(text: str, config: ProviderConfig) -> str:
    """``text`` with the key of ``config`` replaced by ``***``."""
    key = config.api_key.reveal() if config.api_key is not None else None
    if not key or key not in text:
        return text
    if len(key) >= _SHORT_KEY:
        return text.replace(key, "***")
    return re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", "***", text)


def scrub_error(error: StreamError, config: ProviderConfig) -> None:
    """Remove the key from the error and the errors chained to it.

    A context hidden with ``raise ... from None`` is dropped: it is a
    ``requests`` exception holding the prepared request, headers included.
    A chained ``StreamError`` (the error a cancel replaced) is scrubbed too.
    """
    if config.api_key is None or not config.api_key.reveal():
        return
    link: BaseException | None = error
    for _ in range(8):
        if link is None:
            break
        if link.__suppress_context__:
            link.__context__ = None
        if isinstance(link, StreamError):
            for attr in _TEXT_ATTRIBUTES:
                value = getattr(link, attr, None)
                if isinstance(value, str):
                    setattr(link, attr, scrub_text(value, config))
        link.args = tuple(scrub_text(a, config) if isinstance(a, str) else a for a in link.args)
        link = link.__cause__ or link.__context__
