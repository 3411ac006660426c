"""HTTP/1.1 body framing, sans-I/O and standard library only (the bottom layer).

* ``_chunked``: the strict chunked-transfer decoder, bytes in, payload out,
  with what follows the body kept apart (``surplus``);
* ``_bom``: the byte-order mark at the start of an event stream or an NDJSON
  body, removed also when its bytes arrive in separate reads.

Nothing here imports anything outside the standard library and ``errors``.
"""
