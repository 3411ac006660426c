"""``chat`` options a user meets on day one, run in-process with ``main()``
against the loopback server: ``--api-key``, the missing-key message,
``--stats`` with the finish reason, the note for a cut answer,
``--reasoning``, ``--json`` on failure, and text no terminal can encode."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from streamactors import Chunk, StreamError
from streamactors._cli_output import AnswerPrinter, error_json, result_json, write
from streamactors.accumulate import Accumulator
from streamactors.cli import main
from streamactors.providers import PROVIDERS
from streamactors.testing import Fault, LoopbackServer, Script


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No provider key or base URL from the machine running the tests."""
    for info in PROVIDERS.values():
        for name in (*info.key_env, info.base_env):
            if name:
                monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return monkeypatch


@pytest.fixture
def openai_env(env: pytest.MonkeyPatch, loopback_server: LoopbackServer) -> LoopbackServer:
    env.setenv("OPENAI_BASE_URL", loopback_server.url("openai"))
    env.setenv("OPENAI_API_KEY", "sk-test-key")
    return loopback_server


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


# -- keys -------------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_api_key_flag_goes_to_the_models_provider(
        env: pytest.MonkeyPatch, loopback_server: LoopbackServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("ANTHROPIC_BASE_URL", loopback_server.url("anthropic"))
    loopback_server.script = Script(text="Hello.")
    status, out, err = _run(capsys, "chat", "-m", "anthropic/claude-x",
                            "--api-key", "sk-ant-from-flag", "Hi")
    assert (status, out, err) == (0, "Hello.\n", "")
    (req,) = loopback_server.requests
    assert req.headers["x-api-key"] == "sk-ant-from-flag"


@pytest.mark.timeout(20)
def test_base_url_flag_goes_to_the_models_provider(
        env: pytest.MonkeyPatch, loopback_server: LoopbackServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("ANTHROPIC_API_KEY", "sk-ant-in-the-environment")
    status, _, err = _run(capsys, "chat", "-m", "openai-compatible/m", "--base-url",
                          loopback_server.url("openai-compatible"), "Hi")
    assert status == 0, err
    (req,) = loopback_server.requests
    assert "sk-ant-in-the-environment" not in f"{req.headers} {req.body!r}"


@pytest.mark.timeout(20)
def test_a_missing_key_names_the_flag_and_the_variable(
        env: pytest.MonkeyPatch, loopback_server: LoopbackServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("ANTHROPIC_BASE_URL", loopback_server.url("anthropic"))
    status, out, err = _run(capsys, "chat", "-m", "anthropic/claude-x", "Hi")
    assert (status, out) == (1, "")
    assert err == "error: no API key for anthropic/: pass --api-key or set ANTHROPIC_API_KEY\n"
    assert loopback_server.requests == []


@pytest.mark.parametrize("flag", ["--api-key", "--base-url"])
def test_key_and_base_url_need_a_model(env: pytest.MonkeyPatch, flag: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "chat", flag, "http://127.0.0.1:9", "Hi")
    assert (status, out) == (1, "")
    assert err.startswith(f"error: {flag} needs --model provider/model")


# -- what is printed ------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_stats_show_the_finish_reason(openai_env: LoopbackServer,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.script = Script(text="Fine.")
    status, out, err = _run(capsys, "chat", "--stats", "Hi")
    assert (status, out) == (0, "Fine.\n")
    (line,) = err.splitlines()
    assert line.startswith("stats: finish reason stop, first token ")


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("reason", "words"), [("length", "-p max_tokens=N"),
                                               ("content_filter", "content filter")])
def test_an_answer_that_stopped_short_gets_a_note(openai_env: LoopbackServer, reason: str,
                                                  words: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.script = Script(text="The answer was", finish_reason=reason)
    status, out, err = _run(capsys, "chat", "Hi")
    assert (status, out) == (0, "The answer was\n")
    (note,) = err.splitlines()
    assert note.startswith("note: ") and f"finish reason: {reason}" in note and words in note


@pytest.mark.timeout(20)
def test_a_whole_answer_gets_no_note(openai_env: LoopbackServer,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.script = Script(text="Whole.")
    assert _run(capsys, "chat", "Hi") == (0, "Whole.\n", "")


REASONED = Script(reasoning="Let me think.", text="Answer.")


@pytest.mark.timeout(20)
def test_reasoning_is_shown_on_stderr_only_when_asked(openai_env: LoopbackServer,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.script = REASONED
    assert _run(capsys, "chat", "Hi") == (0, "Answer.\n", "")
    assert _run(capsys, "chat", "--reasoning", "Hi") == (0, "Answer.\n", "Let me think.\n")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.timeout(20)
@pytest.mark.parametrize("no_color", [False, True])
def test_reasoning_is_dimmed_on_a_terminal(openai_env: LoopbackServer, env: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str],
                                           no_color: bool) -> None:
    openai_env.script = REASONED
    terminal = _Terminal()
    env.setattr("sys.stderr", terminal)
    if no_color:
        env.setenv("NO_COLOR", "1")
    assert main(["chat", "--reasoning", "Hi"]) == 0
    shown = terminal.getvalue()
    if no_color:
        assert shown == "Let me think.\n"
    else:
        assert "\x1b[2mLet\x1b[0m" in shown and shown.endswith("\x1b[0m\n")
        assert shown.replace("\x1b[2m", "").replace("\x1b[0m", "") == "Let me think.\n"
    assert capsys.readouterr().out == "Answer.\n"


# -- --json on failure ----------------------------------------------------------------


def _error(out: str) -> dict[str, Any]:
    obj = json.loads(out)
    assert list(obj) == ["error"]
    error: dict[str, Any] = obj["error"]
    assert set(error) == {"type", "message", "status_code", "request_id", "partial"}
    return error


@pytest.mark.timeout(20)
def test_json_prints_an_error_object_for_an_http_error(
        openai_env: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.script = Script(fault=Fault("http_error", status=401, message="invalid key"))
    status, out, err = _run(capsys, "chat", "--json", "Hi")
    assert status == 1
    error = _error(out)
    assert (error["type"], error["status_code"]) == ("AuthenticationError", 401)
    assert error["partial"] is None or error["partial"]["chunks"] == 0
    assert "invalid key" in error["message"] and error["request_id"]
    assert err == f"error: {error['message']}\n"


@pytest.mark.timeout(20)
def test_json_error_carries_the_partial_result(openai_env: LoopbackServer,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.script = Script(text="a b c d e", fault=Fault("drop", after=2))
    status, out, _ = _run(capsys, "chat", "--json", "-p", "max_retries=0", "Hi")
    assert status == 1
    error = _error(out)
    assert error["partial"]["choices"][0]["text"] == "a b"
    assert error["status_code"] is None


@pytest.mark.parametrize(("args", "type_name"), [
    (["-m", "anthropic/claude-x"], "ConfigurationError"),
    (["-p", "oops"], "ConfigurationError"),
])
def test_json_error_before_any_request(env: pytest.MonkeyPatch, args: list[str],
                                       type_name: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "chat", "--json", *args, "Hi")
    assert status == 1
    error = _error(out)
    assert error["type"] == type_name and err == f"error: {error['message']}\n"


# -- lone surrogates ------------------------------------------------------------------


def _strict_stream() -> tuple[io.TextIOWrapper, io.BytesIO]:
    raw = io.BytesIO()
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True), raw


def test_answer_text_with_a_lone_surrogate_is_printed_replaced(
        monkeypatch: pytest.MonkeyPatch) -> None:
    out, raw = _strict_stream()
    err, raw_err = _strict_stream()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    printer = AnswerPrinter(text=True, reasoning=True)
    printer.chunk(Chunk(reasoning="hm\udfff", text=None))
    printer.chunk(Chunk(text="a\ud800b"))
    printer.chunk(Chunk(text="\ud83d\ude00"))  # a pair held as two code points
    printer.end()
    assert raw.getvalue().decode() == "a\ufffdb\U0001f600\n"
    assert raw_err.getvalue().decode() == "hm\ufffd\n"


def test_write_falls_back_to_what_the_stream_can_encode() -> None:
    raw = io.BytesIO()
    ascii_out = io.TextIOWrapper(raw, encoding="ascii", errors="strict", write_through=True)
    write(ascii_out, "caf\u00e9 \ud800")
    assert raw.getvalue() == b"caf? ?"


def test_json_outputs_survive_a_lone_surrogate() -> None:
    acc = Accumulator()
    acc.add(Chunk(text="a\ud800b", finish_reason="stop"))
    result = acc.result()
    assert json.loads(result_json(result))["choices"][0]["text"] == "a\ud800b"
    err = StreamError("bad \ud800 byte", partial=result)
    out, raw = _strict_stream()
    write(out, error_json(err))
    error = json.loads(raw.getvalue())["error"]
    assert error["message"] == "bad \ufffd byte"
    assert error["partial"]["choices"][0]["text"] == "a\ufffdb"
