"""Transport: the only package that touches requests, urllib3 and http.client.

* ``_requests``: ``Transport``, sending a stream's request through requests
  and reading the response head (errors re-typed once, here);
* ``_body``: a streamed response's body, read as it arrives, framed by the
  ``_wire`` decoders, inflated in bounded steps;
* ``_pool``: pooled connections a cancel can reach, interim responses
  skipped, idle connections expired;
* ``_cancel``: the cancel token of one stream (shutting its socket down);
* ``_timeouts``: ``Timeout`` and the one deadline thread of the process;
* ``_retry``: when a failed attempt is retried, after how long;
* ``_reactor``: the shared reader thread (``reader="reactor"``).
"""
