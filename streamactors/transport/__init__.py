"""Transport: the only package that touches requests, urllib3 and http.client.

* ``_base``: the seam, as protocols: ``Transport``, ``Response``, ``Body``
  (what a stream's worker uses, and all it uses);
* ``_requests``: ``RequestsTransport``, sending a stream's request through
  requests and reading the response head (errors re-typed once, here);
* ``_body``: a streamed response's body over requests, read as it arrives,
  framed by one ``_wire`` body reader, inflated in bounded steps;
* ``_internals``: every reach into requests', urllib3's and http.client's
  private parts, version-checked, with a public-API fallback;
* ``_pool``: requests' adapter with our pools (keep-alive expiry);
* ``_cancel``: the cancel token of one stream (aborting what it waits on);
* ``_timeouts``: ``Timeout`` and the one deadline thread of the process;
* ``_retry``: ``RetryPolicy``, when a failed attempt is retried, after how long;
* ``_reactor``: the shared reader thread (``reader="reactor"``);
* ``_recv``: the reader's ``recv`` that keeps the GIL (POSIX, plain sockets),
  with ``socket.recv`` as its fallback;
* ``fake``: ``FakeTransport``, scripted or recorded bytes without sockets.
"""
