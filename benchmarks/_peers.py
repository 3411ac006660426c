"""The peers streamactors is measured against, each reading the same stream.

Every peer does the same user-level work per chunk: decode the event's JSON,
take the delta's text and keep it (a list of parts), and, when a latency
histogram is given, record the chunk's delivery latency. Each returns
``(chunks, characters of text, monotonic time of the first chunk)``.

* ``floor``: the least a Python program can do -- a raw socket, one ``recv``
  of up to 64 KiB per wake-up, split on blank lines, ``json.loads``. It does
  not even parse HTTP properly; it is the yardstick, not a client.
* ``requests``: ``iter_content(chunk_size=None)`` and a hand-written splitter.
* ``sseclient``: sseclient-py over a requests response, as its README shows.
* ``httpx-sse``: ``connect_sse`` + ``iter_sse`` on an ``httpx.Client``.
* ``openai`` / ``openai-async``: the official SDK, ``stream=True``.
* ``openai-helper``: ``client.chat.completions.stream()`` (event objects).

The optional ones are skipped, with a message, when not installed
(``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from ._measure import Histogram

__all__ = ["MESSAGES", "PEERS", "Peer", "missing", "requirement"]

MESSAGES = [{"role": "user", "content": "Say tok many times."}]
Result = tuple[int, int, float]

_loads = json.loads
_monotonic = time.monotonic


def missing(modules: tuple[str, ...]) -> str | None:
    """None when every module can be imported, else a skip message."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return f"not installed: {', '.join(absent)} (pip install -e '.[bench]')"


def requirement(name: str) -> str | None:
    """None when the peer or library target ``name`` can run, else why not."""
    cls = PEERS.get(name)
    return missing(cls.requires if cls is not None else ("streamactors",))


class Peer:
    """One way of consuming a stream; ``open`` once, then ``stream`` many times."""

    name = ""
    requires: tuple[str, ...] = ()
    #: True if ``stream`` may be called from many threads at once on one instance.
    shared = False

    def open(self, base_url: str) -> None:
        self.base_url = base_url

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Floor(Peer):
    """Raw socket; keeps its connection alive between streams (no pooling
    logic: one socket per instance)."""

    name = "floor"

    def open(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._addr = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._path = parts.path.rstrip("/") + "/chat/completions"
        self._sock: socket.socket | None = None

    def _request(self, model: str) -> bytes:
        body = json.dumps({"model": model, "messages": MESSAGES, "stream": True}).encode()
        return (
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
            b"Accept: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
            % (self._path.encode(), self._addr[0].encode(), self._addr[1], len(body), body)
        )

    # One loop, inlined on purpose: the floor is the cheapest reading there is,
    # and helper calls would be cost it does not have.
    def stream(self, model: str, hist: Histogram | None = None) -> Result:  # noqa: C901
        sock = self._sock
        if sock is None:
            sock = self._sock = socket.create_connection(self._addr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(self._request(model))
        recv = sock.recv
        add = hist.add if hist is not None else None
        parts: list[str] = []
        append = parts.append
        count = 0
        first = 0.0
        buf = b""
        while True:
            data = recv(65536)
            if not data:
                raise ConnectionError("server closed the connection mid-stream")
            buf = buf + data if buf else data
            if b"\n\n" not in buf:
                continue
            events = buf.split(b"\n\n")
            buf = events.pop()
            for ev in events:
                at = ev.find(b"data: ")
                if at < 0 or ev[at + 6 : at + 7] == b"[":
                    continue
                obj = _loads(ev[at + 6 :])
                if not count:
                    first = _monotonic()
                count += 1
                text = obj["choices"][0]["delta"].get("content")
                if text:
                    append(text)
                if add is not None:
                    add(obj["t"])
            if buf.endswith(b"\r\n0\r\n\r\n"):
                break
        return count, sum(map(len, parts)), first

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _split_events(iterable: Any, hist: Histogram | None) -> Result:
    """The hand-written SSE splitter the requests peer uses."""
    add = hist.add if hist is not None else None
    parts: list[str] = []
    append = parts.append
    count = 0
    first = 0.0
    buf = b""
    for data in iterable:
        buf = buf + data if buf else data
        if b"\n\n" not in buf:
            continue
        events = buf.split(b"\n\n")
        buf = events.pop()
        for ev in events:
            for line in ev.splitlines():
                if line[:6] != b"data: " or line[6:7] == b"[":
                    continue
                obj = _loads(line[6:])
                if not count:
                    first = _monotonic()
                count += 1
                text = obj["choices"][0]["delta"].get("content")
                if text:
                    append(text)
                if add is not None:
                    add(obj["t"])
    return count, sum(map(len, parts)), first


class Requests(Peer):
    name = "requests"
    requires = ("requests",)

    def open(self, base_url: str) -> None:
        import requests

        self._session = requests.Session()
        self._url = base_url + "/chat/completions"

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        body = {"model": model, "messages": MESSAGES, "stream": True}
        with self._session.post(self._url, json=body, stream=True, timeout=60) as r:
            r.raise_for_status()
            return _split_events(r.iter_content(chunk_size=None), hist)

    def close(self) -> None:
        self._session.close()


def _from_sse_data(data_iter: Any, hist: Histogram | None) -> Result:
    add = hist.add if hist is not None else None
    parts: list[str] = []
    count = 0
    first = 0.0
    for data in data_iter:
        if data.startswith("[DONE]"):
            continue
        obj = _loads(data)
        if not count:
            first = _monotonic()
        count += 1
        text = obj["choices"][0]["delta"].get("content")
        if text:
            parts.append(text)
        if add is not None:
            add(obj["t"])
    return count, sum(map(len, parts)), first


class SSEClientPy(Peer):
    name = "sseclient-py"
    requires = ("sseclient", "requests")

    def open(self, base_url: str) -> None:
        import requests

        self._session = requests.Session()
        self._url = base_url + "/chat/completions"

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        import sseclient

        body = {"model": model, "messages": MESSAGES, "stream": True}
        with self._session.post(self._url, json=body, stream=True, timeout=60) as r:
            client = sseclient.SSEClient(r)  # type: ignore[arg-type]  # as its README shows
            return _from_sse_data((e.data for e in client.events()), hist)

    def close(self) -> None:
        self._session.close()


class HTTPXSSE(Peer):
    name = "httpx-sse"
    requires = ("httpx", "httpx_sse")
    shared = True

    def open(self, base_url: str) -> None:
        import httpx

        self._client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=2000))
        self._url = base_url + "/chat/completions"

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        from httpx_sse import connect_sse

        body = {"model": model, "messages": MESSAGES, "stream": True}
        with connect_sse(self._client, "POST", self._url, json=body) as es:
            return _from_sse_data((e.data for e in es.iter_sse()), hist)

    def close(self) -> None:
        self._client.close()


def _sdk_chunks(stream: Any, hist: Histogram | None) -> Result:
    add = hist.add if hist is not None else None
    parts: list[str] = []
    count = 0
    first = 0.0
    for chunk in stream:
        if not count:
            first = _monotonic()
        count += 1
        if chunk.choices:
            text = chunk.choices[0].delta.content
            if text:
                parts.append(text)
        if add is not None:
            add(chunk.model_extra["t"])
    return count, sum(map(len, parts)), first


class OpenAISync(Peer):
    name = "openai"
    requires = ("openai",)
    shared = True

    def open(self, base_url: str) -> None:
        import openai

        self._client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        stream = self._client.chat.completions.create(
            model=model, messages=MESSAGES, stream=True  # type: ignore[arg-type]
        )
        with stream:  # type: ignore[union-attr]
            return _sdk_chunks(stream, hist)

    def close(self) -> None:
        self._client.close()


class OpenAIHelper(OpenAISync):
    name = "openai-helper"

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        parts: list[str] = []
        count = 0
        first = 0.0
        add = hist.add if hist is not None else None
        with self._client.chat.completions.stream(
            model=model, messages=MESSAGES  # type: ignore[arg-type]
        ) as stream:
            for event in stream:
                if event.type == "chunk":
                    if not count:
                        first = _monotonic()
                    count += 1
                    if add is not None:
                        add(event.chunk.model_extra["t"])  # type: ignore[index]
                elif event.type == "content.delta":
                    parts.append(event.delta)
        return count, sum(map(len, parts)), first


class OpenAIAsync(Peer):
    """The async SDK; ``stream`` runs one stream in a fresh event loop (the
    many-stream scenario drives ``astream`` from one loop instead)."""

    name = "openai-async"
    requires = ("openai",)

    def open(self, base_url: str) -> None:
        self.base_url = base_url

    def client(self) -> Any:
        import openai

        kwargs: dict[str, Any] = {}
        limits = _sdk_limits(2000)
        if limits is not None:
            kwargs["http_client"] = openai.DefaultAsyncHttpxClient(limits=limits)
        return openai.AsyncOpenAI(base_url=self.base_url, api_key="sk-bench", max_retries=0,
                                  **kwargs)

    async def astream(self, client: Any, model: str, hist: Histogram | None) -> Result:
        add = hist.add if hist is not None else None
        parts: list[str] = []
        count = 0
        first = 0.0
        stream = await client.chat.completions.create(model=model, messages=MESSAGES,
                                                      stream=True)
        async with stream:
            async for chunk in stream:
                if not count:
                    first = _monotonic()
                count += 1
                if chunk.choices:
                    text = chunk.choices[0].delta.content
                    if text:
                        parts.append(text)
                if add is not None:
                    add(chunk.model_extra["t"])
        return count, sum(map(len, parts)), first

    def stream(self, model: str, hist: Histogram | None = None) -> Result:
        import asyncio

        async def main() -> Result:
            client = self.client()
            try:
                return await self.astream(client, model, hist)
            finally:
                await client.close()

        return asyncio.run(main())


def _sdk_limits(connections: int) -> Any:
    """Connection limits for the SDK's own HTTP package (``httpx`` for 1.x,
    whatever its default client derives from in later versions), or None."""
    try:
        import openai

        base = type(openai.DefaultAsyncHttpxClient()).__mro__[1]
        package = sys.modules[base.__module__.split(".")[0]]
        return package.Limits(max_connections=connections, max_keepalive_connections=connections)
    except Exception:
        return None


PEERS: dict[str, type[Peer]] = {
    p.name: p
    for p in (Floor, Requests, SSEClientPy, HTTPXSSE, OpenAISync, OpenAIAsync, OpenAIHelper)
}
