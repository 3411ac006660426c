"""Every ```python block of README.md and docs/*.md runs, in a fresh
namespace, with every provider's environment pointing at one loopback server
and the repository root as the working directory (as after a clone).
A block preceded by a ``<!-- no-run -->`` line is shown but not run."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamactors.testing import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?P<marker><!-- no-run -->\s*\n)?```python\n(?P<code>.*?)```", re.S)


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for doc in DOCS:
        if not doc.exists():
            continue
        for i, m in enumerate(_BLOCK.finditer(doc.read_text())):
            if not m.group("marker"):
                out.append((doc.relative_to(ROOT).as_posix(), i, m.group("code")))
    return out


BLOCKS = _blocks()


def test_every_python_block_is_closed() -> None:
    # An unclosed block would never run (the pattern needs its closing fence).
    for doc in DOCS:
        if doc.exists():
            text = doc.read_text()
            opened = text.count("```python\n")
            assert opened == len(_BLOCK.findall(text)), f"{doc.name}: a ```python block is not closed"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def provider_env(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> LoopbackServer:
    for name in ("openai", "anthropic", "gemini", "mistral", "openrouter"):
        prefix = name.upper()
        monkeypatch.setenv(f"{prefix}_BASE_URL", server.url(name))
        monkeypatch.setenv(f"{prefix}_API_KEY", f"sk-docs-{name}")
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", server.url("openai-compatible"))
    monkeypatch.setenv("OLLAMA_HOST", server.base_url)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)
    return server


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("doc", "index", "code"), BLOCKS,
                         ids=[f"{d}#{i}" for d, i, _ in BLOCKS])
def test_doc_example_runs(provider_env: LoopbackServer, doc: str, index: int, code: str) -> None:
    from streamactors.testing import Script

    provider_env.script = Script()
    # A real module, as a script would be: Pydantic finds the example's
    # classes (a model naming another) through sys.modules.
    module = types.ModuleType(f"doc_example_{index}")
    sys.modules[module.__name__] = module
    try:
        exec(compile(code, f"{doc}#{index}", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]


def test_every_guide_has_a_runnable_example() -> None:
    docs_with_code = {d for d, _, _ in BLOCKS}
    for doc in (ROOT / "docs").glob("*.md"):
        rel = doc.relative_to(ROOT).as_posix()
        if rel.startswith("docs/notes-") or rel == "docs/benchmarks.md":
            continue
        assert rel in docs_with_code, f"{rel} has no runnable python example"
