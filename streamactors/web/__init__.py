"""Web pieces, loaded only when used: the OpenAI-compatible relay
(``RelayServer``, ``python -m streamactors relay``) and the models it serves.
(The re-emission of a stream as SSE, ``streamactors.sse.to_sse``, lives with
the SSE code.)"""
