"""A fast loopback server of OpenAI-format chat streams, for the benchmarks.

It runs in its own process (``python -m benchmarks._server``, or
``ServerProcess`` from the orchestrator), so its CPU never counts as client
CPU. One thread, one ``selectors`` loop, no framework:

* HTTP/1.1 with keep-alive; every response body is chunked, one SSE event per
  HTTP chunk, as real servers send them; ``data: [DONE]`` then the terminating
  zero-size chunk, so a pooled connection can serve the next stream.
* What to send is read from the request's ``model`` field, so every client
  (raw sockets, requests, httpx, the openai SDK, streamactors) can ask for it:
  ``bench:n=100000,rate=0,stall=0`` -- ``n`` events (the last one carries
  ``finish_reason: "stop"``); ``rate`` events per second per stream (0: as fast
  as the socket takes them, from pre-built bytes); ``stall=k``: send ``k``
  events, then nothing more while holding the connection open.
* Each paced event carries ``"t"``: ``time.monotonic()`` taken just before its
  send. On Linux that clock is system-wide, so a client process can compute
  the delivery latency of every event. Unpaced bodies are built once per ``n``
  and carry ``"t": 0.0``.
* The ``id`` of small streams (``n <= 4096``) is ``chatcmpl-<conn>-<req>``: the
  serial number of the TCP connection and of the request on it, so a client
  can tell whether its connections are reused.
* ``GET /stats`` returns counters as JSON: connections accepted, requests,
  paced sends, and how late the paced sends were (the server's own lag).
"""

from __future__ import annotations

import heapq
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

__all__ = ["ServerProcess", "event_payload", "model_spec", "serve", "server_stats"]

_CHUNK_JSON = (
    '{"id":"%s","object":"chat.completion.chunk","created":1741570283,'
    '"model":"gpt-4o-mini-2024-07-18","service_tier":"default",'
    '"system_fingerprint":"fp_06737a9306","choices":[{"index":0,'
    '"delta":{"content":" tok%d"},"logprobs":null,"finish_reason":%s}],"t":'
)
_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)
_DONE = b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"
_BIG_ID = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
_EARLY = 0.001
_SPEC = re.compile(r"(\w+)=(\d+(?:\.\d+)?)")


def model_spec(n: int, rate: float = 0, stall: int = 0) -> str:
    """The ``model`` value that asks this server for a stream."""
    return f"bench:n={n},rate={rate:g},stall={stall}"


def event_payload(rid: str, i: int, last: bool) -> bytes:
    """The bytes of one SSE event without its timestamp and ending."""
    return ("data: " + _CHUNK_JSON % (rid, i % 97, '"stop"' if last else "null")).encode()


def _frame(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


_bodies: dict[int, list[bytes]] = {}
_BLOCK = 97 * 100  # events per repeated block of a long body (the text repeats every 97)


def _events(rid: str, start: int, stop: int, n: int) -> bytes:
    return b"".join(
        _frame(event_payload(rid, i, i == n - 1) + b"0.0}\n\n") for i in range(start, stop)
    )


def _prebuilt(n: int, rid: str | None) -> list[bytes]:
    """A whole unpaced body of ``n`` events, as pieces to send in order.

    Bodies of more than ``_BLOCK`` events repeat one cached block of bytes, so
    a million-event stream costs the server a few megabytes, not hundreds.
    """
    cached = _bodies.get(n) if rid is None else None
    if cached is not None:
        return cached
    if n <= _BLOCK:
        pieces = [_events(rid or _BIG_ID, 0, n, n) + _DONE]
    else:
        block = _bodies.setdefault(-1, [_events(_BIG_ID, 0, _BLOCK, -1)])[0]
        full = (n - 1) // _BLOCK
        pieces = [block] * full + [_events(_BIG_ID, full * _BLOCK, n, n) + _DONE]
    if rid is None:
        _bodies[n] = pieces
    return pieces


class _Conn:
    __slots__ = ("gen", "inbuf", "out", "reqs", "serial", "sock", "stream", "writing")

    def __init__(self, sock: socket.socket, serial: int) -> None:
        self.sock = sock
        self.serial = serial
        self.inbuf = b""
        self.out: deque[memoryview] = deque()
        self.reqs = 0
        self.stream: list[Any] | None = None  # [rid, i, n, interval, start, stall]
        self.writing = False
        self.gen = 0


class _Server:
    def __init__(self, sock: socket.socket) -> None:
        self.lsock = sock
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ, None)
        self.timers: list[tuple[float, int, _Conn, int]] = []
        self.seq = 0
        self.stats: dict[str, Any] = {"accepted": 0, "requests": 0, "paced_sends": 0,
                      "late_1ms": 0, "late_5ms": 0, "max_late_ms": 0.0}

    def run(self) -> None:
        sel = self.sel
        timers = self.timers
        while True:
            timeout = None
            if timers:
                # epoll counts whole milliseconds (selectors rounds up, from
                # float error sometimes by one too many): ask for one less and
                # fire what is due within the next millisecond. So the loop
                # never spins, and sends are at most 1 ms early; they are
                # stamped when sent, so pacing jitter never shows as latency.
                timeout = max(0.0, timers[0][0] - time.monotonic() - _EARLY)
            for key, mask in sel.select(timeout):
                conn = key.data
                if conn is None:
                    self._accept()
                    continue
                if mask & selectors.EVENT_READ:
                    self._readable(conn)
                if mask & selectors.EVENT_WRITE and conn.sock.fileno() >= 0:
                    self._flush(conn)
            if timers:
                self._fire()

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, _ = self.lsock.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.stats["accepted"] += 1
            conn = _Conn(sock, self.stats["accepted"])
            self.sel.register(sock, selectors.EVENT_READ, conn)

    def _close(self, conn: _Conn) -> None:
        conn.gen += 1
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.inbuf += data
        if conn.stream is None:
            self._requests(conn)

    def _requests(self, conn: _Conn) -> None:
        """Start the next request found complete in ``conn.inbuf``."""
        buf = conn.inbuf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(buf) < end + 4 + length:
            return
        body = buf[end + 4 : end + 4 + length]
        conn.inbuf = buf[end + 4 + length :]
        conn.reqs += 1
        self.stats["requests"] += 1
        method, path = lines[0].split(" ")[:2]
        if method == "GET" and path.startswith("/stats"):
            payload = json.dumps(self.stats).encode()
            self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
            self._requests(conn)
            return
        try:
            model = json.loads(body).get("model", "")
        except ValueError:
            model = ""
        spec = {k: float(v) for k, v in _SPEC.findall(model)}
        n = int(spec.get("n", 10))
        rate = spec.get("rate", 0.0)
        stall = int(spec.get("stall", 0))
        rid = f"chatcmpl-{conn.serial}-{conn.reqs}" if n <= 4096 else None
        if rate <= 0 and not stall:
            self._send(conn, _HEAD)
            for piece in _prebuilt(n, rid):
                self._send(conn, piece)
            self._requests(conn)
            return
        self._send(conn, _HEAD)
        interval = 1.0 / rate if rate > 0 else 0.0
        conn.stream = [rid or _BIG_ID, 0, n, interval, time.monotonic(), stall]
        self._schedule(time.monotonic(), conn)

    def _schedule(self, when: float, conn: _Conn) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, conn, conn.gen))

    def _fire(self) -> None:
        timers = self.timers
        stats = self.stats
        monotonic = time.monotonic
        now = monotonic()
        while timers and timers[0][0] <= now + _EARLY:
            due, _, conn, gen = heapq.heappop(timers)
            st = conn.stream
            if gen != conn.gen or st is None:
                continue
            rid, i, n, interval, start, stall = st
            late = now - due
            if late > 0.001:  # the server's own lag (a busy machine)
                stats["late_1ms"] += 1
                if late > 0.005:
                    stats["late_5ms"] += 1
                if late * 1000 > stats["max_late_ms"]:
                    stats["max_late_ms"] = late * 1000
            stats["paced_sends"] += 1
            payload = event_payload(rid, i, i == n - 1) + b"%.6f}\n\n" % monotonic()
            i += 1
            st[1] = i
            if i == n:
                self._send(conn, _frame(payload) + _DONE)
                conn.stream = None
                self._requests(conn)
            elif stall and i >= stall:
                self._send(conn, _frame(payload))  # then silence: the connection stays open
            else:
                self._send(conn, _frame(payload))
                self._schedule(start + i * interval, conn)
            now = monotonic()

    def _send(self, conn: _Conn, data: bytes) -> None:
        if not conn.out:
            try:
                sent = conn.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            if sent == len(data):
                return
            conn.out.append(memoryview(data)[sent:])
        else:
            conn.out.append(memoryview(data))
        if not conn.writing:
            conn.writing = True
            self.sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def _flush(self, conn: _Conn) -> None:
        out = conn.out
        while out:
            view = out[0]
            try:
                sent = conn.sock.send(view[: 1 << 20])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close(conn)
                return
            if sent < len(view):
                out[0] = view[sent:]
                return
            out.popleft()
        conn.writing = False
        self.sel.modify(conn.sock, selectors.EVENT_READ, conn)


def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve forever; print the port on stdout once listening."""
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    print(sock.getsockname()[1], flush=True)
    _Server(sock).run()


def server_stats(port: int) -> dict[str, Any]:
    """The counters of the server listening on ``port`` (one new connection)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            more = s.recv(65536)
            if not more:
                break
            data += more
    result: dict[str, Any] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return result


class ServerProcess:
    """The server in a child process, as a context manager: ``.url`` is the
    base URL (``http://127.0.0.1:PORT/v1``) and ``.stats()`` its counters."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server"],
            stdout=subprocess.PIPE, env=env, cwd=root, text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self._proc.kill()
            raise RuntimeError("benchmark server failed to start")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        return server_stats(self.port)

    def cpu_seconds(self) -> float:
        """User + system CPU the server process used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
