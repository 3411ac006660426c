"""The public surface is exactly ``__all__``, sorted, and every name exists."""

from __future__ import annotations

import streamactors


def test_all_is_sorted_and_complete() -> None:
    names = streamactors.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(streamactors, name), name
    public = {n for n in dir(streamactors) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(streamactors, n)).__name__ == "module"}
    assert public - modules - {"annotations"} <= set(names) | {"__version__"}


def test_py_typed_shipped() -> None:
    from importlib import resources

    assert resources.files("streamactors").joinpath("py.typed").is_file()
