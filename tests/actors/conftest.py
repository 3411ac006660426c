"""Fixtures of the actor tests: a loopback server per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamactors.testing import LoopbackServer, Script


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    """One loopback server for the module; each test sets its ``script``."""
    with LoopbackServer(Script()) as srv:
        yield srv
