"""A ``recv`` that keeps the GIL, for the reactor thread (POSIX only).

``socket.recv`` releases the GIL around every call; at hundreds of streams
some other thread is always waiting for it, so each release hands the GIL
over and the reactor queues for it again, for every read (a "convoy"). The
C library's ``recv`` called through ``ctypes.PyDLL`` keeps the GIL, with
``MSG_DONTWAIT``: the socket is ready, the call returns at once.

Only where it is safe: POSIX with ``MSG_DONTWAIT`` and a working ``ctypes``;
plain sockets only (TLS keeps ``socket.recv``); one buffer per reactor thread.
Anywhere else ``gil_holding_reader()`` returns None and the reactor uses
``socket.recv``. Measurements: docs/benchmarks.md.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from typing import Any

__all__ = ["READ_SIZE", "gil_holding_reader"]

READ_SIZE = 65536

_AGAIN_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})


def gil_holding_reader() -> Callable[[socket.socket], Callable[[int], bytes]] | None:
    """``sock -> recv(size)`` that reads without releasing the GIL, for one
    reactor thread (the buffer is that thread's own); None where unavailable.

    The returned ``recv`` behaves as a non-blocking ``socket.recv``: bytes,
    b"" at EOF, ``BlockingIOError`` when nothing is ready, ``OSError`` else.
    """
    flags = getattr(socket, "MSG_DONTWAIT", None)
    if flags is None or os.name != "posix":
        return None
    try:
        import ctypes

        crecv = ctypes.PyDLL(None, use_errno=True).recv  # PyDLL: the GIL stays held
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    crecv.restype = ctypes.c_ssize_t
    crecv.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    buf = ctypes.create_string_buffer(READ_SIZE)
    address = ctypes.addressof(buf)
    string_at = ctypes.string_at
    get_errno = ctypes.get_errno
    again = _AGAIN_ERRNOS

    def reader(sock: socket.socket, _keep: Any = buf) -> Callable[[int], bytes]:
        # ``_keep``: the buffer must live as long as any recv writing into it.
        fileno = sock.fileno  # -1 once closed: EBADF, never another socket's bytes

        def recv(size: int, _keep: Any = _keep) -> bytes:
            n: int = crecv(fileno(), address, size if size < READ_SIZE else READ_SIZE, flags)
            if n > 0:
                return string_at(address, n)
            if n == 0:
                return b""
            err = get_errno()
            if err in again:
                raise BlockingIOError(err, os.strerror(err))
            raise OSError(err, os.strerror(err))

        return recv

    return reader


