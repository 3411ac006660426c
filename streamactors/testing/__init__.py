"""A real loopback HTTP/1.1 server that streams scripted LLM answers.

``LoopbackServer`` speaks the streaming formats of OpenAI (Chat Completions,
legacy Completions, Responses; also what Mistral, OpenRouter and other
OpenAI-compatible servers use), Anthropic Messages, Gemini
``streamGenerateContent?alt=sse`` and Ollama (``/api/chat``, ``/api/generate``).
What it says comes from a ``Script``; what goes wrong comes from its ``Fault``:

============== ===============================================================
``stall``       after ``after`` content chunks, send nothing for ``seconds``
``drop``        after ``after`` content chunks, close the TCP connection
``drop_mid_line`` send half of the next event, then close
``slow_drip``   the whole body one byte per write, ``delay`` apart
``malformed_json`` insert a complete event whose JSON is broken, then go on
``oversized_event`` start an event and never end it (``size`` bytes), close
``http_error``  answer ``status`` with the provider's error body
``error_event`` the provider's in-band error event, then end the body
``empty_body``  200 with an empty chunked body
``html_200``    200 with a proxy's HTML error page
``gzip``        the stream gzip-compressed, flushed per event
============== ===============================================================

Example::

    with LoopbackServer(Script.from_text("Hi there", tokens_per_second=20)) as server:
        client = MyClient(base_url=server.url("openai"), api_key="test")
        ...
        assert server.requests[0].json()["stream"] is True
"""

from __future__ import annotations

from ._script import Fault, Script, ToolCallSpec
from ._server import LoopbackServer, RecordedRequest

__all__ = ["Fault", "LoopbackServer", "RecordedRequest", "Script", "ToolCallSpec"]
