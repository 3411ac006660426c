"""Bounded memory (guarantee 5): a full queue or mailbox blocks the worker,
which stops reading, so TCP pushes back on the server and memory stays flat
however long the stream; an oversized event or endless line is a
``ProtocolError`` whose cost is bounded by the limit, not by the line."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import streamactors
from streamactors import Data, Finish, ProtocolError
from streamactors.actors._client import mailbox_of
from streamactors.testing import Fault, LoopbackServer, Script

from . import MESSAGES, MODELS, RawServer, Recorder, make_client, run_stream, wait_until

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]

# The child process: a generator server that writes N tiny OpenAI chunks as
# fast as the socket takes them (constant memory on its side), and a client
# whose consumer pauses (0.3 s) and then drains. It prints the growth of its
# peak RSS during the measured stream, and how many bytes the server managed
# to send during the pause.
CHILD = textwrap.dedent('''
    import json, queue, re, socket, sys, threading, time
    import streamactors
    from streamactors import Error, Finish, StreamingClient

    EVENT = (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
             b'"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\\n\\n')
    END = (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
           b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\\n\\ndata: [DONE]\\n\\n')
    BATCH = 512
    sent = [0]

    def handle(conn):
        buf = b""
        try:
            while True:
                while b"\\r\\n\\r\\n" not in buf:
                    part = conn.recv(65536)
                    if not part:
                        return
                    buf += part
                head, _, rest = buf.partition(b"\\r\\n\\r\\n")
                length = int(re.search(rb"(?i)content-length:\\s*(\\d+)", head).group(1))
                while len(rest) < length:
                    rest += conn.recv(65536)
                body, buf = rest[:length], rest[length:]
                n = json.loads(body)["max_tokens"]
                conn.sendall(b"HTTP/1.1 200 OK\\r\\ncontent-type: text/event-stream\\r\\n"
                             b"transfer-encoding: chunked\\r\\n\\r\\n")
                block = EVENT * BATCH
                for start in range(0, n, BATCH):
                    payload = block if n - start >= BATCH else EVENT * (n - start)
                    conn.sendall(b"%x\\r\\n%s\\r\\n" % (len(payload), payload))
                    sent[0] += len(payload)
                conn.sendall(b"%x\\r\\n%s\\r\\n0\\r\\n\\r\\n" % (len(END), END))
        except OSError:
            pass
        finally:
            conn.close()

    def serve(listener):
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def main():
        n, mode, pause = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        threading.Thread(target=serve, args=(listener,), daemon=True).start()
        port = listener.getsockname()[1]
        client = streamactors.Client(base_url=f"http://127.0.0.1:{port}/v1",
                                     api_key="sk-x", trust_env=False)
        msgs = [{"role": "user", "content": "hi"}]

        def run(count, pause):
            gate = threading.Event()
            if mode == "actor":
                class Slow(StreamingClient):
                    def handle_data(self, chunk, stream):
                        gate.wait()
                actor = Slow(mailbox_size=64).start()
                h = client.chat("openai/m", msgs, stream_to=actor, max_tokens=count)
                time.sleep(pause)
                paused_sent = sent[0]
                gate.set()
                result = h.wait(60)
                actor.stop()
                actor.join()
            else:
                q = queue.Queue(maxsize=64 if mode == "queue" else 0)
                h = client.chat("openai/m", msgs, stream_to=q, max_tokens=count)
                time.sleep(pause)
                paused_sent = sent[0]
                while not isinstance(q.get(), (Error, Finish)):
                    pass
                result = h.wait(60)
            assert len(result.text) == count, (len(result.text), count)
            return paused_sent

        run(2000, 0.0)  # warm up: imports, pools, first allocations
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak RSS to the current RSS
            base = status("VmRSS")
        except OSError:
            base = status("VmHWM")
        sent[0] = 0
        paused_sent = run(n, pause)
        print(json.dumps({"peak_growth_kb": status("VmHWM") - base,
                          "sent_during_pause": paused_sent,
                          "total_bytes": n * len(EVENT)}))

    main()
''')

#: Filled by the memory test, printed for the report.
MEASURED: dict[str, Any] = {}


def measure(tmp_path: Path, n: int, mode: str, pause: float = 0.3) -> dict[str, Any]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run(
        [sys.executable, str(script), str(n), mode, str(pause)],
        capture_output=True, text=True, timeout=50, cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    MEASURED[f"{mode}-{n}"] = data
    return data


@pytest.mark.parametrize("mode", ["queue", "actor"])
def test_memory_stays_flat_with_a_slow_consumer(mode: str, tmp_path: Path) -> None:
    """20k and 200k chunks through a bound of 64: the peak grows by little
    more than the accumulated result itself (200k one-character texts), and
    the server could not send most of the stream while the consumer paused."""
    small = measure(tmp_path, 20_000, mode)
    large = measure(tmp_path, 200_000, mode)
    print(f"\n{mode}: peak RSS growth 20k chunks {small['peak_growth_kb']} KiB, 200k chunks "
          f"{large['peak_growth_kb']} KiB; sent during the pause "
          f"{large['sent_during_pause']} of {large['total_bytes']} bytes")
    assert large["peak_growth_kb"] < 8 * 1024
    assert large["peak_growth_kb"] - small["peak_growth_kb"] < 6 * 1024
    # TCP pushed back: the server stalled once the socket buffers were full.
    assert large["sent_during_pause"] < large["total_bytes"] // 2


def test_unbounded_queue_control(tmp_path: Path) -> None:
    """The same measurement without a bound grows with the stream, which
    shows the measurement above can fail."""
    control = measure(tmp_path, 50_000, "unbounded", pause=1.5)
    print(f"\nunbounded: peak RSS growth 50k chunks {control['peak_growth_kb']} KiB")
    assert control["peak_growth_kb"] > 20 * 1024


def test_full_queue_blocks_the_worker(server: LoopbackServer, no_leaks: None) -> None:
    """Nobody reads a bounded queue: the worker waits (no chunk lost or
    dropped), then delivers everything in order once the consumer comes."""
    tokens = [f" t{i}" for i in range(300)]
    server.script = Script(tokens=tokens)
    client = make_client(server)
    try:
        q: queue.Queue[Any] = queue.Queue(maxsize=4)
        handle = client.chat(MODELS["openai"], MESSAGES, stream_to=q)
        assert wait_until(q.full)
        time.sleep(0.2)
        assert q.qsize() == 4 and not handle.done()
        texts = []
        while True:
            m = q.get(timeout=5)
            if isinstance(m, Data):
                if m.chunk.text:
                    texts.append(m.chunk.text)
            else:
                assert isinstance(m, Finish)
                break
        assert texts == tokens
        assert handle.wait(5).text == "".join(tokens)
    finally:
        client.close()


def test_full_mailbox_blocks_the_worker(server: LoopbackServer, no_leaks: None) -> None:
    """A mailbox of 2 chunks and a paused actor: it never holds more than a
    bound (the limit plus one batch), and everything arrives in order."""
    tokens = [f" t{i}" for i in range(200)]
    server.script = Script(tokens=tokens, tokens_per_second=4000)
    client = make_client(server)
    sizes: list[int] = []

    class Watch(Recorder):
        def handle_data(self, chunk: Any, stream: Any) -> None:
            sizes.append(mailbox_of(self)._buffer.size)  # type: ignore[attr-defined]
            super().handle_data(chunk, stream)
            time.sleep(0.0005)

    actor = Watch(mailbox_size=2).start()
    try:
        handle = client.chat(MODELS["openai"], MESSAGES, stream_to=actor)
        assert handle.wait(10).text == "".join(tokens)
    finally:
        actor.stop()
        actor.join(5)
        client.close()
    texts = [m.chunk.text for m in actor.of(handle) if isinstance(m, Data) and m.chunk.text]
    assert texts == tokens
    assert max(sizes) <= 2 + 64  # the bound, exceeded by at most one batch


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ollama"])
def test_endless_line_is_an_error_with_bounded_memory(provider: str, server: LoopbackServer,
                                                       no_leaks: None) -> None:
    """A 64 MiB event/line that never ends: ProtocolError once it passes
    ``max_event_bytes``, after the earlier chunks were delivered; the memory
    it cost follows the limit (1 MiB), not the line."""
    server.script = Script(text="one two three",
                           fault=Fault("oversized_event", after=2, size=64 * 1024 * 1024))
    limit = 1024 * 1024
    client = make_client(server, provider, max_event_bytes=limit, max_retries=0)
    tracemalloc.start()
    try:
        out = run_stream(client, MODELS[provider], "queue")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
    err = out.error
    assert isinstance(err, ProtocolError)
    assert str(limit) in str(err)
    assert out.texts == ["one", " two"]
    assert err.partial is not None and err.partial.text == "one two"
    assert peak < 4 * limit, f"peak {peak} bytes"


def test_malformed_json_carries_a_truncated_payload(no_leaks: None,
                                                    server: LoopbackServer) -> None:
    good = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": "fine"}, "finish_reason": None}]}
    broken = '{"id": "c", "choices": [{"delta": {"content": "' + "y" * 100_000 + '"'
    body = (f"data: {json.dumps(good)}\n\ndata: {broken}\n\n").encode()
    answer = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    with RawServer(lambda r: answer) as raw:
        client = streamactors.Client(base_url=raw.base_url + "/v1", api_key="sk-test",
                                     trust_env=False, max_retries=0)
        try:
            with pytest.raises(ProtocolError) as info:
                client.chat(MODELS["openai"], MESSAGES).wait(5)
        finally:
            client.close()
    err = info.value
    assert err.payload is not None
    assert err.payload.startswith('{"id": "c", "choices"')
    assert 100 < len(err.payload) <= streamactors.errors.MAX_ATTACHED_CHARS + 100
    assert err.partial is not None and err.partial.text == "fine"
