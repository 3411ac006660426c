"""pytest plugin: the ``loopback_server`` fixture.

Load it with ``pytest_plugins = ["streamactors.testing.pytest_plugin"]`` in a
conftest.py to get the fixture in any test suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import LoopbackServer

__all__ = ["loopback_server"]


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
    """A started ``LoopbackServer`` on an ephemeral port, stopped afterwards."""
    server = LoopbackServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
