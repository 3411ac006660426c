"""``python -m streamactors`` run as a real subprocess against a loopback
server (or its own demo server): stdout carries only the answer, stderr the
rest; exit codes 0 / 1 / 130."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from streamactors.testing import Fault, LoopbackServer, Script

REPO = Path(__file__).resolve().parents[2]
TEXT = "Why did the actor cross the stream? To get to the other thread."


def _env(**extra: str) -> dict[str, str]:
    """A clean environment: no provider keys unless given."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def _openai_env(server: LoopbackServer) -> dict[str, str]:
    return _env(OPENAI_BASE_URL=server.url("openai"), OPENAI_API_KEY="sk-test-key")


def _run(*args: str, env: dict[str, str], input: str | None = "",
         timeout: float = 15) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamactors", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


@pytest.fixture
def server(loopback_server: LoopbackServer) -> LoopbackServer:
    loopback_server.script = Script(text=TEXT)
    return loopback_server


@pytest.mark.timeout(20)
def test_chat_streams_the_answer_to_stdout(server: LoopbackServer) -> None:
    p = _run("chat", "Tell me a joke", env=_openai_env(server))
    assert (p.returncode, p.stdout, p.stderr) == (0, TEXT + "\n", "")
    body = server.requests[0].json()
    assert body["model"] == "gpt-4o-mini", "the default model of the configured provider"
    assert body["messages"] == [{"role": "user", "content": "Tell me a joke"}]


@pytest.mark.timeout(20)
def test_demo_mode_with_nothing_configured() -> None:
    p = _run("chat", "Tell me a joke", env=_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith('You said: "Tell me a joke".') and "demo" in p.stdout
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "demo server" in lines[0] and "OPENAI_API_KEY" in lines[0]


@pytest.mark.timeout(20)
def test_model_system_params_and_stats(server: LoopbackServer) -> None:
    env = _env(ANTHROPIC_BASE_URL=server.url("anthropic"), ANTHROPIC_API_KEY="sk-ant")
    p = _run("chat", "--model", "anthropic/claude-haiku-4-5", "--system", "Be brief.",
             "-p", "temperature=0.2", "-p", "max_tokens=50", "-p", 'stop=["END"]',
             "-p", "metadata={\"user_id\": \"u-1\"}", "--stats", "Hi", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout == TEXT + "\n"
    (req,) = server.requests
    body = req.json()
    assert req.path == "/v1/messages" and req.headers["x-api-key"] == "sk-ant"
    assert (body["model"], body["system"], body["temperature"], body["max_tokens"]) == (
        "claude-haiku-4-5", "Be brief.", 0.2, 50)
    assert body["stop_sequences"] == ["END"]
    (stats,) = p.stderr.splitlines()
    assert re.search(r"first token \d+ ms", stats) and "tokens/s" in stats
    assert "12 prompt + " in stats and "completion tokens" in stats


@pytest.mark.timeout(20)
def test_json_output(server: LoopbackServer) -> None:
    p = _run("chat", "--json", "Hi", env=_openai_env(server))
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["choices"][0]["text"] == TEXT
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"]["prompt_tokens"] == 12 and result["time_to_first_token"] > 0


@pytest.mark.timeout(20)
@pytest.mark.parametrize("args", [["chat", "-"], ["chat"]])
def test_prompt_from_stdin(server: LoopbackServer, args: list[str]) -> None:
    p = _run(*args, env=_openai_env(server), input="Summarise this\nplease\n")
    assert p.returncode == 0, p.stderr
    assert server.requests[0].json()["messages"][-1]["content"] == "Summarise this\nplease\n"


@pytest.mark.timeout(20)
def test_route_from_env(server: LoopbackServer) -> None:
    env = _openai_env(server) | {"OLLAMA_HOST": server.base_url}
    p = _run("chat", "--route", "ollama", "--stats", "Hi", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout == TEXT + "\n" and "route ollama" in p.stderr
    assert server.requests[0].path == "/api/chat"
    bad = _run("chat", "--route", "nope", "Hi", env=env)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: unknown route 'nope'; configured routes: openai, ollama"


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("args", "message"), [
    (["chat", "-m", "openai/m", "Hi"], "error: openai returned HTTP 401: invalid key"),
    (["chat", "-m", "nowhere/m", "Hi"], "error: unknown provider 'nowhere'"),
    (["chat", "-p", "oops", "Hi"], "error: -p takes KEY=VALUE, got 'oops'"),
    (["chat", "-m", "gemini/gemini-2.5-flash", "Hi"],
     "error: no API key for gemini/: pass --api-key or set GEMINI_API_KEY or GOOGLE_API_KEY"),
])
def test_errors_are_one_line_and_exit_1(server: LoopbackServer, args: list[str],
                                        message: str) -> None:
    server.script = Script(fault=Fault("http_error", status=401, message="invalid key"))
    p = _run(*args, env=_openai_env(server))
    assert p.returncode == 1 and p.stdout == ""
    (line,) = p.stderr.splitlines()
    assert line.startswith(message)


@pytest.mark.timeout(20)
def test_error_mid_stream_keeps_the_text_on_stdout(server: LoopbackServer) -> None:
    server.script = Script(text="a b c d e", fault=Fault("drop", after=2))
    p = _run("chat", "-p", "max_retries=0", "Hi", env=_openai_env(server))
    assert p.returncode == 1
    assert p.stdout == "a b\n"
    (line,) = p.stderr.splitlines()
    assert line.startswith("error: ")


@pytest.mark.timeout(20)
def test_ctrl_c_cancels_cleanly_with_exit_130(server: LoopbackServer) -> None:
    server.script = Script(text=" ".join(["word"] * 500), tokens_per_second=20)
    proc = subprocess.Popen([sys.executable, "-m", "streamactors", "chat", "Hi"],
                            env=_openai_env(server), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(4)  # the answer has started
        assert first == b"word"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert b"Traceback" not in err, err.decode()
    assert (first + out).count(b"word") < 400


@pytest.mark.timeout(20)
def test_interactive_conversation_keeps_history(server: LoopbackServer) -> None:
    server.script = Script(text="Answer.")
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "streamactors", "chat"],
                            env=_openai_env(server), stdin=child, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO)
    os.close(child)
    try:
        os.write(main, b"first question\n")
        assert server.wait_for_requests(1, timeout=10)
        os.write(main, b"second question\n")
        assert server.wait_for_requests(2, timeout=10)
        time.sleep(0.2)
        os.write(main, b"\x04")  # Ctrl-D at an empty line: end of input
        out, err = proc.communicate(timeout=10)
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out == b"Answer.\nAnswer.\n"
    messages: list[dict[str, Any]] = server.requests[1].json()["messages"]
    assert messages == [{"role": "user", "content": "first question"},
                        {"role": "assistant", "content": "Answer."},
                        {"role": "user", "content": "second question"}]


@pytest.mark.timeout(25)
def test_relay_subcommand(server: LoopbackServer) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "streamactors", "relay", "--port", "0",
                             "--model", "openai/served-model"],
                            env=_openai_env(server), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        match = re.search(r"(http://\S+/v1)", banner)
        assert match, banner
        r = requests.post(match.group(1) + "/chat/completions", timeout=10, json={
            "model": "served-model", "stream": True,
            "messages": [{"role": "user", "content": "Hi"}]})
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert r.status_code == 200 and r.content.endswith(b"data: [DONE]\n\n")
    assert server.requests[0].json()["model"] == "served-model"
    assert proc.returncode == 0 and "Traceback" not in err


def test_help_and_usage_errors() -> None:
    from streamactors.cli import main

    assert main(["--help"]) == 0
    assert main([]) == 2
    assert main(["chat", "--model", "a/b", "--route", "c"]) == 2
