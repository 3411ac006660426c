"""The house shows its layers, and the arrows only point down.

Bottom up: ``_wire``, ``sse``, ``ndjson`` (framing, stdlib only); ``errors``,
``_chunk``, ``_result``, ``accumulate``, ``providers`` (data and codecs,
sans-I/O); ``transport`` (the only package that touches requests, urllib3 and
http.client); ``actors`` (streams, targets, the actor); ``api``, ``router``,
``metrics``; ``web`` (re-emission, the relay), ``cli``, ``testing`` on top.
No module imports one of a layer above it, and no two modules import each
other, not even lazily (inside a function) or for types only; a module names
one above it (to load it on first use) only for a declared public alias."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "streamactors"

#: Each layer may import its own and the ones listed before it.
LAYERS: list[tuple[str, list[str]]] = [
    ("wire", ["_wire", "_version", "errors"]),
    ("framing", ["sse._decoder", "sse._encoder", "sse._event", "sse", "ndjson", "partial_json"]),
    ("data", ["_chunk", "_gaps", "_result", "_output", "_shapes", "_partials", "_tools",
              "accumulate", "providers"]),
    ("transport", ["transport"]),
    ("actors", ["actors", "metrics"]),
    ("api", ["api", "router", "_options", "_request_fields", "_chunk_stream", "__init__"]),
    ("top", ["web", "cli", "_cli_common", "_cli_output", "_cli_relay", "testing", "otel",
             "__main__"]),
]
STDLIB_ONLY = ["_wire", "sse._decoder", "sse._encoder", "sse._event", "ndjson", "partial_json",
               "errors"]
NO_IO = ["_chunk", "_gaps", "_result", "_output", "_shapes", "_partials", "_tools",
         "accumulate", "providers"]
IO = {"requests", "urllib3", "threading", "queue", "socket", "janus", "asyncio", "selectors"}
FOREIGN_INTERNALS = {"requests", "urllib3", "http"}


def _module(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module(p): p for p in PKG.rglob("*.py")}


def _layer(module: str) -> int:
    best = (-1, -1)  # (length of the longest matching prefix, layer)
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), i)
    assert best[1] >= 0, f"streamactors.{module} belongs to no layer"
    return best[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement with whether it is for type checking only."""
    out: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def walk(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, typing_only))
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    walk(ast.Module(body=[stmt], type_ignores=[]), True)
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]), typing_only)
            else:
                walk(child, typing_only)

    walk(tree, False)
    return out


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> tuple[set[str], set[str]]:
    ours: set[str] = set()
    foreign: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith("streamactors."):
                ours.add(alias.name.removeprefix("streamactors."))
            else:
                foreign.add(alias.name.split(".")[0])
    elif node.level:
        base = package.split(".") if package else []
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        target = ".".join([*base, node.module] if node.module else base)
        names = [target] if node.module else [f"{target}.{a.name}".strip(".") for a in node.names]
        for name in names:
            ours.add(name if name in MODULES else name.rpartition(".")[0] or name)
    elif node.module and node.module.startswith("streamactors"):
        ours.add(node.module.removeprefix("streamactors").lstrip(".") or "__init__")
    elif node.module:
        foreign.add(node.module.split(".")[0])
    return ours, foreign


def _imports(module: str, *, typing: bool = True) -> tuple[set[str], set[str]]:
    """(modules of the package, top-level foreign names) imported anywhere in
    ``module``: at the top and inside functions, and (with ``typing``) under
    ``TYPE_CHECKING``."""
    path = MODULES[module]
    package = "" if module == "__init__" else (
        module if path.name == "__init__.py" else module.rpartition(".")[0])
    ours: set[str] = set()
    foreign: set[str] = set()
    for node, typing_only in _import_nodes(ast.parse(path.read_text())):
        if typing_only and not typing:
            continue
        o, f = _targets(node, package)
        ours |= o
        foreign |= f
    return {m for m in ours if m in MODULES and m != module}, foreign


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_arrows_point_down() -> None:
    # Imports for type checking only run nothing: they may name a type of a
    # layer above (an error's ``partial`` is a ``StreamResult``); they still
    # count for cycles below.
    for module in MODULES:
        mine = _layer(module)
        ours, _ = _imports(module, typing=False)
        for target in ours:
            assert _layer(target) <= mine, (
                f"streamactors.{module} ({LAYERS[mine][0]}) imports streamactors.{target} "
                f"({LAYERS[_layer(target)][0]})")


#: Public names kept where users import them from, though the module that
#: defines them sits in a layer above: (module, module it loads by name on
#: first use). The only arrows allowed to point up, and only lazily.
ALIASES = {("sse", "web._reemit"), ("__init__", "web._relay")}


def _loaded_by_name(module: str) -> set[str]:
    """Modules of the package that ``module`` names in a string literal
    (``importlib.import_module("streamactors.web._reemit")``, a table of
    relative names such as ``{"Timeout": ".transport._timeouts"}``): what it
    may load by name on first use."""
    path = MODULES[module]
    package = "" if module == "__init__" else (
        module if path.name == "__init__.py" else module.rpartition(".")[0])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        name = node.value
        if re.fullmatch(r"\.[\w.]*\w", name):
            name = f"{package}{name}".lstrip(".")
        elif re.fullmatch(r"streamactors(\.\w+)+", name):
            name = name.removeprefix("streamactors.")
        else:
            continue
        if name in MODULES and name != module:
            found.add(name)
    return found


def test_modules_loaded_by_name_point_down_or_are_declared_aliases() -> None:
    used: set[tuple[str, str]] = set()
    for module in MODULES:
        for target in _loaded_by_name(module):
            if _layer(target) > _layer(module):
                assert (module, target) in ALIASES, (
                    f"streamactors.{module} loads streamactors.{target} from a layer above")
                used.add((module, target))
    assert used == ALIASES, f"aliases no longer used: {sorted(ALIASES - used)}"


def _selected(prefixes: list[str]) -> list[str]:
    return [m for m in MODULES if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_framing_is_stdlib_only() -> None:
    stdlib = set(sys.stdlib_module_names)
    for module in _selected(STDLIB_ONLY):
        _, foreign = _imports(module, typing=False)
        assert foreign <= stdlib - IO, f"streamactors.{module} imports {sorted(foreign - stdlib)}"


def test_data_and_codecs_do_no_io() -> None:
    for module in _selected(NO_IO):
        _, foreign = _imports(module)
        assert not foreign & IO, f"streamactors.{module} imports {sorted(foreign & IO)}"


def test_only_transport_touches_requests_urllib3_and_http_client() -> None:
    for module in MODULES:
        _, foreign = _imports(module)
        if foreign & FOREIGN_INTERNALS and not module.startswith("transport"):
            assert module.startswith(("web", "testing")) and "requests" not in foreign, (
                f"streamactors.{module} imports {sorted(foreign & FOREIGN_INTERNALS)}")


def test_only_the_asyncio_bridge_imports_janus() -> None:
    for module in MODULES:
        _, foreign = _imports(module)
        if "janus" in foreign:
            assert module == "actors._aio", module


def test_no_import_cycles() -> None:
    graph = {m: _imports(m)[0] for m in MODULES}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def _loaded_by(statement: str) -> set[str]:
    """Top-level modules that ``statement`` loads, beyond what the interpreter
    loaded at start-up (site hooks may load a few of their own)."""
    code = ("import sys; before = {m.split('.')[0] for m in sys.modules}; " + statement
            + "; print(sorted({m.split('.')[0] for m in sys.modules} - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(ast.literal_eval(out))


def test_importing_sse_imports_only_the_standard_library() -> None:
    loaded = _loaded_by("import streamactors.sse, streamactors.ndjson")
    foreign = loaded - set(sys.stdlib_module_names) - {"streamactors"}
    assert not foreign, f"import streamactors.sse loaded {sorted(foreign)}"


def test_importing_streamactors_does_not_import_the_web_pieces() -> None:
    code = ("import sys; import streamactors; "
            "print(sorted(m for m in sys.modules if m.startswith(('http.server', "
            "'streamactors.web', 'janus'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert ast.literal_eval(out) == []
