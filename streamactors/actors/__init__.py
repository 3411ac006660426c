"""Streams as workers and the targets they deliver to.

* ``_stream``: ``StreamHandle`` and the messages ``Data``, ``Error``,
  ``Finish``;
* ``_pipeline``: one stream's sans-I/O pipeline (framing, codec, delivery);
* ``_worker``: one stream's lifecycle: request, retries, reading, exactly one
  terminal message, on a thread of its own when its target may block;
* ``_pooled``, ``_connectors``: a stream without a thread of its own, moved
  through its steps by a small pool of connector threads and the shared
  reader;
* ``_scrub``: keys out of the error a stream ends with;
* ``_sinks``: the targets ``stream_to`` accepts (queues, callables, the
  handle's own ``Channel``); ``_buffer``: the one bounded buffer behind the
  mailbox, ``Channel`` and the asyncio bridge;
* ``_client``, ``_mailbox``, ``_mail``, ``_actor_loop``: the
  ``StreamingClient`` actor, its mailbox and its thread;
* ``_aio``: asyncio through janus;
* ``_registry``: every live stream and actor, ended at interpreter exit.
"""
