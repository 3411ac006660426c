"""Interpreter exit and Ctrl-C, in real subprocesses: every live stream ends
(its target gets its one ``Error``), every worker lets go, nothing prints a
traceback and the process exits promptly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from streamactors.testing import LoopbackServer, Script

from . import wait_until

pytestmark = pytest.mark.timeout(30)

REPO = Path(__file__).resolve().parents[2]


def child_env(**extra: str) -> dict[str, str]:
    """A clean environment: no provider keys or proxies from the host."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO),
           "LANG": "C.UTF-8"}
    env.update(extra)
    return env


EXIT_SCRIPT = textwrap.dedent('''
    import queue, socket, sys, threading, time
    import streamactors as sa
    from streamactors.testing import Fault, LoopbackServer, Script

    server = LoopbackServer(Script(tokens=["one", " two", " three"],
                                   fault=Fault("stall", after=2, seconds=60))).start()
    client = sa.Client(base_url=server.url("openai"), api_key="sk-test",
                       timeout=sa.Timeout(connect=30, read=60), trust_env=False)
    MSGS = [{"role": "user", "content": "hi"}]

    class Actor(sa.StreamingClient):
        def handle_error(self, error, stream):
            print(f"actor got {type(error).__name__} {error.reason}", flush=True)

        def on_stop(self):
            print("actor stopped", flush=True)

    def target(m):
        if isinstance(m, sa.Error):
            print(f"callable got {type(m.error).__name__} {m.error.reason}", flush=True)

    # A connect that hangs: a listener with a full backlog that never accepts.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(hole.getsockname())
        except BlockingIOError:
            pass
        fillers.append(s)
    stuck = sa.Client(base_url=f"http://127.0.0.1:{hole.getsockname()[1]}/v1",
                      api_key="sk-test", timeout=sa.Timeout(connect=30), trust_env=False)

    actor = sa.StreamingClient.start(Actor(mailbox_size=1))
    full = queue.Queue(maxsize=1)
    handles = [
        client.chat("openai/m", MSGS, stream_to=actor),
        client.chat("openai/m", MSGS, stream_to=target),
        client.chat("openai/m", MSGS, stream_to=queue.Queue()),
        client.chat("openai/m", MSGS, stream_to=full),
        client.chat("openai/m", MSGS),
        stuck.chat("openai/m", MSGS),
    ]
    deadline = time.monotonic() + 5
    while len(server.requests) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert not any(h.done() for h in handles)
    print("exiting", time.monotonic(), flush=True)
''')


@pytest.mark.timeout(30)
def test_interpreter_exit_with_live_streams(tmp_path: Path) -> None:
    script = tmp_path / "exit_with_streams.py"
    script.write_text(EXIT_SCRIPT)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=25, env=child_env(), cwd=tmp_path)
    total = time.monotonic() - t0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    exiting = [line for line in lines if line.startswith("exiting")]
    assert exiting, proc.stdout
    # Every stream ended with its one Error, reason "shutdown"...
    assert "actor got StreamCancelled shutdown" in lines
    assert "callable got StreamCancelled shutdown" in lines
    assert lines[-1] == "actor stopped"  # ...the actor handled it, then stopped.
    # The whole child, start-up included, is quick: no worker held the exit.
    assert total < 8.0, f"the child took {total:.1f} s"


EXIT_TIMING = textwrap.dedent('''
    import atexit, time
    import streamactors as sa
    from streamactors.testing import Fault, LoopbackServer, Script

    server = LoopbackServer(Script(fault=Fault("stall", after=1, seconds=60))).start()
    client = sa.Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False)
    handles = [client.chat("openai/m", [{"role": "user", "content": "hi"}])
               for _ in range(20)]
    while len(server.requests) < 20:
        time.sleep(0.01)
    time.sleep(0.2)
    start = time.monotonic()
    # atexit runs after the streams were ended and their threads joined.
    atexit.register(lambda: print(f"ended {sum(h.done() for h in handles)} "
                                  f"in {time.monotonic() - start:.3f}", flush=True))
''')


def test_exit_ends_workers_within_milliseconds(tmp_path: Path) -> None:
    """Twenty stalled streams at exit: all ended well inside a second."""
    script = tmp_path / "exit_timing.py"
    script.write_text(EXIT_TIMING)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=25, env=child_env(), cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    words = proc.stdout.split()
    assert words[:2] == ["ended", "20"], proc.stdout
    assert float(words[-1]) < 1.0, proc.stdout


def test_ctrl_c_in_the_cli(tmp_path: Path) -> None:
    """SIGINT while ``python -m streamactors chat`` streams: the stream is
    cancelled, the text so far was printed, exit status 130, no traceback,
    and the connection is closed."""
    tokens = [f" word{i}" for i in range(200)]
    with LoopbackServer(Script(tokens=tokens, tokens_per_second=20)) as server:
        env = child_env(OPENAI_BASE_URL=server.url("openai"), OPENAI_API_KEY="sk-test")
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamactors", "chat", "hello", "--model", "openai/m"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )
        try:
            assert server.wait_for_requests(1, timeout=10), "the CLI sent no request"
            time.sleep(0.5)  # a few tokens printed
            assert proc.poll() is None
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=5)
            elapsed = time.monotonic() - t0
        finally:
            if proc.poll() is None:  # pragma: no cover - only on failure
                proc.kill()
                proc.communicate()
        assert "Traceback" not in err, err
        assert proc.returncode == 130, (proc.returncode, err)
        assert elapsed < 2.0, f"exit took {elapsed:.2f} s after Ctrl-C"
        assert out.startswith(" word0 word1"), out
        assert len(out.split()) < len(tokens)
        assert wait_until(lambda: server.connections_open == 0, 2.0)


STUCK_HANDLER = textwrap.dedent('''
    import threading, time
    import streamactors as sa
    from streamactors.testing import LoopbackServer, Script

    TOKENS = [f" t{i}" for i in range(20)]
    server = LoopbackServer(Script(tokens=TOKENS, tokens_per_second=200)).start()
    client = sa.Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False)
    MSGS = [{"role": "user", "content": "hi"}]
    entered = threading.Semaphore(0)

    class Stuck(sa.StreamingClient):
        def handle_data(self, chunk, stream):
            entered.release()
            threading.Event().wait()  # never returns

        def on_stop(self):
            print("stuck stopped", flush=True)  # never printed

    class Slow(sa.StreamingClient):
        def on_start(self):
            self.texts = []

        def handle_data(self, chunk, stream):
            time.sleep(0.005)
            if chunk.text:
                self.texts.append(chunk.text)

        def handle_finish(self, result, stream):
            print(f"slow handled {len(self.texts)} chunks", flush=True)

        def on_stop(self):
            print("slow stopped", flush=True)

    stuck, stuck_bounded, slow = Stuck().start(), Stuck(mailbox_size=1).start(), Slow().start()
    for actor in (stuck, stuck_bounded):
        client.chat("openai/m", MSGS, stream_to=actor)
        assert entered.acquire(timeout=5)
    gate = threading.Event()
    slow.ask(gate.wait)  # the slow actor holds everything until main returns
    client.chat("openai/m", MSGS, stream_to=slow).wait(10)
    gate.set()
    print("main returns", flush=True)
''')


def test_a_handler_that_never_returns_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    """Actor threads are daemons: after main returns, a handler stuck forever
    (in an unbounded and in a bounded actor, whose worker waits for room) is
    abandoned after the exit grace period, while a well-behaved actor still
    handles the messages it holds and runs ``on_stop``."""
    script = tmp_path / "stuck_handler.py"
    script.write_text(STUCK_HANDLER)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=20, env=child_env(), cwd=tmp_path)
    total = time.monotonic() - t0
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == ["main returns", "slow handled 20 chunks", "slow stopped"], proc.stdout
    assert total < 10.0, f"the child took {total:.1f} s"
