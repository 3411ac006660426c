"""``python -m streamactors relay``: it serves only its ``--model`` names,
sends ``--base-url`` only on their calls, makes no retries of its own by
default, and refuses a configuration that cannot work before listening."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from streamactors.cli import main
from streamactors.providers import PROVIDERS
from streamactors.testing import Fault, LoopbackServer, Script

from .test_cli import REPO, _env

ANTHROPIC_KEY = "sk-ant-cli-relay-0123456789"
GEMINI_KEY = "gem-cli-relay-0123456789"
MSGS = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def elsewhere() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def _start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """The relay in a subprocess, and its base URL (from its banner)."""
    proc = subprocess.Popen([sys.executable, "-m", "streamactors", "relay", "--port", "0",
                             *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO, text=True)
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    match = re.search(r"(http://\S+/v1) serving (.*); Ctrl-C", banner)
    if not match:
        proc.kill()
        proc.communicate()
        raise AssertionError(banner)
    return proc, match.group(1)


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def _post(url: str, model: str) -> requests.Response:
    return requests.post(url + "/chat/completions", timeout=10,
                         json={"model": model, "stream": True, "messages": MSGS})


@pytest.mark.timeout(30)
def test_relay_serves_only_its_models_and_keeps_keys_home(
        loopback_server: LoopbackServer, elsewhere: LoopbackServer) -> None:
    env = _env(ANTHROPIC_API_KEY=ANTHROPIC_KEY, GEMINI_API_KEY=GEMINI_KEY,
               ANTHROPIC_BASE_URL=elsewhere.url("anthropic"),
               GEMINI_BASE_URL=elsewhere.url("gemini"))
    proc, url = _start(["--model", "openai-compatible/m", "--model", "openai-compatible/n",
                        "--base-url", loopback_server.url("openai-compatible")], env)
    try:
        refused = {name: _post(url, name) for name in
                   ("anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash", "nn")}
        served = _post(url, "m")
        loopback_server.script = Script(fault=Fault("http_error", status=429, retry_after=7))
        limited = _post(url, "openai-compatible/n")
        listed = requests.get(url + "/models", timeout=5).json()
    finally:
        status, err = _stop(proc)
    for r in refused.values():
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "model_not_found"
        assert r.json()["error"]["message"].endswith(
            "allowed: openai-compatible/m, openai-compatible/n")
    assert served.status_code == 200 and served.content.endswith(b"data: [DONE]\n\n")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert len(loopback_server.requests) == 2, "one upstream request each: no relay retries"
    assert elsewhere.requests == []
    seen = " ".join(f"{r.headers} {r.body!r}" for r in loopback_server.requests)
    assert ANTHROPIC_KEY not in seen and GEMINI_KEY not in seen
    assert [m["id"] for m in listed["data"]] == ["openai-compatible/m", "openai-compatible/n"]
    assert status == 0 and "Traceback" not in err


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for info in PROVIDERS.values():
        for name in (*info.key_env, info.base_env):
            if name:
                monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("args", "message"), [
    (["--base-url", "http://127.0.0.1:9/v1"], "error: --base-url needs --model"),
    (["--model", "anthropic/claude-x"], "error: no API key for anthropic/: set ANTHROPIC_API_KEY"),
    (["--model", "openai-compatible/a", "--model", "mistral/b", "--base-url",
      "http://127.0.0.1:9/v1"], "error: RelayServer base_url='http://127.0.0.1:9/v1' belongs "
                                "to one provider"),
])
def test_relay_refuses_what_cannot_work_before_listening(
        no_keys: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    no_keys.setenv("MISTRAL_API_KEY", "sk-mistral-test")
    assert main(["relay", "--port", "0", *args]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(message), err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("value", ["-1", "many"])
def test_max_retries_must_be_a_count(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["relay", "--model", "ollama/x", "--max-retries", value]) == 2
    assert "--max-retries" in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_relay_allow_model_and_max_retries(loopback_server: LoopbackServer) -> None:
    """A pattern serves the names it matches (the base URL going to the
    pattern's provider); ``--max-retries 1`` retries a 503 once."""
    loopback_server.script = Script(text="ok", fault=Fault("http_error", status=503,
                                                           retry_after=0, times=1))
    proc, url = _start(["--allow-model", "openai-compatible/*", "--max-retries", "1",
                        "--base-url", loopback_server.url("openai-compatible")], _env())
    try:
        served = _post(url, "openai-compatible/anything")
        refused = _post(url, "ollama/llama3.1")
    finally:
        status, err = _stop(proc)
    assert served.status_code == 200 and served.content.endswith(b"data: [DONE]\n\n")
    assert [r.json()["model"] for r in loopback_server.requests] == ["anything"] * 2
    assert refused.status_code == 404
    assert status == 0 and "Traceback" not in err
