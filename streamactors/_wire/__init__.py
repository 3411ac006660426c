"""Framing below events, sans-I/O and standard library only (the bottom layer).

* ``_chunked``: the strict chunked-transfer decoder, bytes in, payload out,
  with what follows the body kept apart (``surplus``);
* ``_bodies``: one body reader per framing (chunked, ``Content-Length``,
  until close), chosen once per response by ``reader_for``;
* ``_lines``: the line splitter SSE and NDJSON share (CR/LF/CRLF, or LF
  only; a trailing CR remembered across reads; the incomplete line held in
  pieces, so an endless line costs linear time);
* ``_bom``: the byte-order mark at the start of an event stream or an NDJSON
  body, removed also when its bytes arrive in separate reads.

Nothing here imports anything outside the standard library and ``errors``.
"""
