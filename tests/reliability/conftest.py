"""Fixtures of the reliability tests: loopback servers and leak checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamactors.testing import LoopbackServer, Script

from . import assert_no_leaks, open_fds, stream_threads, wait_until


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A fresh loopback server for one test."""
    with LoopbackServer(Script(text="one two three four five")) as srv:
        yield srv


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LoopbackServer]:
    """One loopback server for a whole module (tests set ``script`` first)."""
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def no_leaks(server: LoopbackServer) -> Iterator[None]:
    """After the test: no worker thread, no server connection, no extra fd.

    Tests using it must close their clients (pooled sockets are open fds).
    """
    assert wait_until(lambda: not stream_threads(), 2.0), "threads left by an earlier test"
    before = open_fds()
    yield
    assert_no_leaks(server, before)
