"""Where the tests' data lives: inside the repository, so a fresh clone runs
every test (see ``tests/data/recorded/README.md`` for each file's source)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
#: Recorded provider streams, one folder per wire format.
RECORDED = DATA / "recorded"
