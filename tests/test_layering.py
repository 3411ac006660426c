"""The arrows only point down: the sans-I/O layers never import requests,
threading, queue, socket or janus, and only _aio imports janus."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "streamactors"
SANS_IO = ["sse", "ndjson.py", "providers", "accumulate.py", "_chunk.py", "_result.py", "errors.py",
           "_chunked.py"]
FORBIDDEN = {"requests", "urllib3", "threading", "queue", "socket", "janus", "asyncio"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _files(entry: str) -> list[Path]:
    p = PKG / entry
    return sorted(p.rglob("*.py")) if p.is_dir() else [p]


def test_sans_io_layers_do_no_io() -> None:
    for entry in SANS_IO:
        for f in _files(entry):
            bad = _imports(f) & FORBIDDEN
            assert not bad, f"{f.relative_to(PKG)} imports {sorted(bad)}"


def test_sans_io_layers_do_not_import_upper_layers() -> None:
    upper = {"_worker", "_transport", "_client", "_sinks", "_handle", "api", "_aio", "router",
             "cli", "testing", "_registry"}
    for entry in SANS_IO:
        for f in _files(entry):
            tree = ast.parse(f.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level:
                    mod = (node.module or "").split(".")[0]
                    assert mod not in upper, f"{f.relative_to(PKG)} imports .{node.module}"


def test_only_transport_imports_requests_and_only_aio_imports_janus() -> None:
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG).as_posix()
        imports = _imports(f)
        if "requests" in imports or "urllib3" in imports:
            assert rel in {"_transport.py", "_pool.py", "_body.py"}, rel
        if "janus" in imports:
            assert rel == "_aio.py", rel
