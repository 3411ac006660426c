"""A fresh clone runs the whole suite: no test reads data from outside the
repository (the recorded streams live in ``tests/data/recorded``)."""

from __future__ import annotations

from pathlib import Path

from ._data import RECORDED

TESTS = Path(__file__).resolve().parent


def test_recorded_streams_are_in_the_repository() -> None:
    files = sorted(p for p in RECORDED.rglob("*") if p.suffix in (".sse", ".ndjson"))
    assert len(files) >= 30
    assert (RECORDED / "README.md").is_file()
    listed = (RECORDED / "README.md").read_text()
    for f in files:
        assert f"`{f.relative_to(RECORDED).as_posix()}`" in listed, f"{f.name} has no provenance row"


def test_no_test_reads_outside_the_repository() -> None:
    needles = ['"' + "shared" + '"', "../" + "shared", "parent" + ".parent"]
    for path in TESTS.rglob("*.py"):
        if path.name == "test_self_contained.py":
            continue
        text = path.read_text()
        for needle in needles:
            assert needle not in text, f"{path.relative_to(TESTS)} mentions {needle}"
