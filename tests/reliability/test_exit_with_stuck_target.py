"""A target that never returns must not keep the process alive: the stream's
worker thread is a daemon, and at exit the stream is cancelled and given a
grace period, then the interpreter leaves (in a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from .test_shutdown import REPO, child_env

pytestmark = pytest.mark.timeout(30)

STUCK_CALLABLE = textwrap.dedent('''
    import threading, time
    import streamactors as sa
    from streamactors.testing import LoopbackServer, Script

    server = LoopbackServer(Script(tokens=["a", " b", " c"], tokens_per_second=50)).start()
    client = sa.Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False)

    def stuck(message):
        print("target called", flush=True)
        threading.Event().wait()  # never returns

    client.chat("openai/m", [{"role": "user", "content": "hi"}], stream_to=stuck)
    time.sleep(0.5)
    print("main returns", flush=True)
''')


def test_a_callable_that_never_returns_does_not_keep_the_process_alive() -> None:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", STUCK_CALLABLE], capture_output=True,
                          text=True, timeout=25, env=child_env(), cwd=REPO)
    elapsed = time.monotonic() - t0
    assert "target called" in proc.stdout and "main returns" in proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert elapsed < 10, f"the process took {elapsed:.1f} s to exit"
