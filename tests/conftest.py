"""Suite-wide fixtures: the loopback server, and a guard that fails any test
leaving a stream worker or actor thread alive, or an exception raised in a
thread that nobody saw."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._data import RECORDED

pytest_plugins = ["streamactors.testing.pytest_plugin"]

if os.environ.get("STREAMACTORS_READER", "reactor") == "reactor":
    # The process-wide reactor (a selector and a wake-up socket pair) lives as
    # long as the process: make it before any test counts file descriptors.
    from streamactors.transport._reactor import shared_reactor

    shared_reactor()

REPO = Path(__file__).resolve().parents[1]


#: Threads that outlive a test by design: the process-wide ones, and servers'
#: (a module-scoped loopback server keeps its keep-alive connections).
_SINGLETONS = ("streamactors-reactor", "streamactors-deadlines", "streamactors-keepalive")
#: ... and the pools' threads (connectors end by themselves when idle).
_SERVERS = ("streamactors-loopback", "streamactors-relay", "streamactors-connector")


def _ours() -> list[threading.Thread]:
    """Threads of streams and actors (daemon or not) still alive."""
    return [
        t for t in threading.enumerate()
        if t.name.startswith("streamactors-") and t.name not in _SINGLETONS
        and not t.name.startswith(_SERVERS) and t.is_alive()
    ]


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = set(_ours())
    errors: list[Any] = []
    old_hook = threading.excepthook
    threading.excepthook = errors.append
    try:
        yield
    finally:
        threading.excepthook = old_hook
    deadline = time.monotonic() + 3.0
    leaked = [t for t in _ours() if t not in before]
    while leaked and time.monotonic() < deadline:
        time.sleep(0.01)
        leaked = [t for t in _ours() if t not in before]
    assert not leaked, f"threads left alive by the test: {[t.name for t in leaked]}"
    assert not errors, f"uncaught exceptions in threads: {[e.exc_value for e in errors]}"


@pytest.fixture
def fixtures_dir() -> Path:
    return RECORDED
