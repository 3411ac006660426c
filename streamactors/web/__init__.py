"""Web pieces, loaded only when used: the re-emission of a stream as SSE
(``streamactors.sse.to_sse``), the OpenAI-compatible relay (``RelayServer``,
``python -m streamactors relay``) and the models it serves."""
