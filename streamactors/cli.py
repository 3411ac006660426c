"""``python -m streamactors``: chat with a model from the shell, or run the relay.

::

    python -m streamactors chat "Tell me a joke"             # streams to stdout
    python -m streamactors chat -m anthropic/claude-haiku-4-5 --stats "Hi"
    echo "Summarise this" | python -m streamactors chat -
    python -m streamactors chat                              # interactive
    python -m streamactors relay --port 8080 -m openai/gpt-4o-mini   # OpenAI-compatible relay

The answer's text goes to stdout as it arrives; everything else (notices,
reasoning, ``--stats``, errors) goes to stderr, so the output can be piped.
With no ``--model`` and no ``--route`` the first configured provider is used
(in ``Router.from_env`` order); with no provider configured at all, a built-in
demo server answers, so the command works on a fresh machine. ``--base-url``
and ``--api-key`` belong to the provider of ``--model`` and are passed on its
calls only: a key never goes to another provider's host. Exit codes: 0 done,
1 error (one ``error: ...`` line; with ``--json`` also an error object on
stdout), 2 bad usage, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ._cli_common import _DEMO_MODEL, DEMO_TOKENS_PER_SECOND, _Failed, check_key, start_demo
from ._cli_output import (
    AnswerPrinter,
    error_json,
    finish_note,
    format_stats,
    result_json,
    say,
    write,
)
from ._result import StreamResult
from ._version import __version__
from .actors._stream import Data, Error, Finish, StreamHandle
from .api import Client
from .errors import StreamError
from .router import DEFAULT_MODELS, Router, configured_providers

__all__ = ["main"]

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m streamactors",
        description="Stream answers of LLM providers (OpenAI, Anthropic, Gemini, Mistral, "
        "OpenRouter, Ollama) from the shell, or relay them as an OpenAI-compatible server.",
    )
    parser.add_argument("--version", action="version", version=f"streamactors {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{chat,relay}", required=True)
    _chat_options(sub.add_parser("chat", help="stream one answer (or a conversation) to "
                                 "stdout"))
    _relay_options(sub.add_parser("relay", help="serve POST /v1/chat/completions (OpenAI "
                                  "format, streaming) backed by any provider"))
    return parser


_MODEL_HELP = ("provider/model, e.g. openai/gpt-4o-mini, anthropic/claude-haiku-4-5, "
               "gemini/gemini-2.5-flash, ollama/llama3.1")
_ROUTE_HELP = "a route of Router.from_env() (a provider name whose key is set, e.g. anthropic)"


def _chat_options(chat: argparse.ArgumentParser) -> None:
    chat.add_argument("prompt", nargs="?", help='the prompt; "-" reads it from stdin; '
                      "omit it for an interactive conversation")
    group = chat.add_mutually_exclusive_group()
    group.add_argument("-m", "--model", help=_MODEL_HELP)
    group.add_argument("-r", "--route", help=_ROUTE_HELP)
    chat.add_argument("--base-url", help="the base URL of --model's provider (sent only on "
                      "its calls)")
    chat.add_argument("--api-key", help="the API key of --model's provider (default: its "
                      "environment variable, e.g. ANTHROPIC_API_KEY)")
    chat.add_argument("-s", "--system", help="a system message before the conversation")
    chat.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                      help="a request field, the value parsed as JSON when it is JSON "
                      "(-p temperature=0.2 -p max_tokens=100); repeatable")
    chat.add_argument("--reasoning", action="store_true",
                      help="show the model's reasoning on stderr (dimmed on a terminal)")
    chat.add_argument("--stats", action="store_true", help="print the finish reason, time to "
                      "first token, tokens/s and usage to stderr")
    chat.add_argument("--json", action="store_true", help="print the whole result (or the "
                      "error) as JSON instead of streaming the text")
    chat.add_argument("--timeout", type=float, default=None,
                      help="connect/read timeout in seconds")


def _keepalive(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {value!r}")
    return seconds or None


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return number


def _relay_options(relay: argparse.ArgumentParser) -> None:
    group = relay.add_mutually_exclusive_group()
    group.add_argument("-m", "--model", action="append", default=[],
                       help=f"a model to serve: {_MODEL_HELP}; repeatable")
    group.add_argument("-r", "--route", help=_ROUTE_HELP + "; serves the routes of "
                       "Router.from_env()")
    relay.add_argument("--allow-model", action="append", default=[], metavar="PATTERN",
                       help="also serve the provider/model names matching this fnmatch "
                       "pattern (e.g. 'ollama/*'); repeatable")
    relay.add_argument("--base-url", help="the upstream base URL of the --model's provider "
                       "(all --model must then be of that provider)")
    relay.add_argument("--max-retries", type=_non_negative, default=0, metavar="N",
                       help="upstream retries before the first token (default 0: an "
                       "upstream 429/5xx reaches the client, whose SDK retries it)")
    relay.add_argument("--keepalive", type=_keepalive, default=15.0, metavar="SECONDS",
                       help="send a ': keep-alive' comment after this much upstream silence "
                       "(default 15; 0 never)")
    relay.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    relay.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    relay.add_argument("--key", default=os.environ.get("STREAMACTORS_RELAY_KEY"),
                       help="require 'Authorization: Bearer KEY' from clients "
                       "(default: $STREAMACTORS_RELAY_KEY)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "relay":
            from ._cli_relay import run_relay

            return run_relay(args, os.environ)
        return _chat(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except (_Failed, StreamError) as exc:
        _report(exc, args)
        return 1


def _report(exc: BaseException, args: argparse.Namespace) -> None:
    """The ``error: ...`` line on stderr; with ``--json``, the error object on stdout."""
    if getattr(args, "json", False):
        # A command-line mistake is bad input before any request, as the
        # library's ConfigurationError is: one vocabulary for scripts.
        type_name = "ConfigurationError" if isinstance(exc, _Failed) else None
        write(sys.stdout, error_json(exc, type_name) + "\n")
        sys.stdout.flush()
    say(f"error: {exc}")


# -- choosing what answers ---------------------------------------------------------


class _Target:
    """What ``chat`` talks to: a model, a route, or the demo server.

    ``options`` are the call options (``base_url``, ``api_key``) of the
    model's provider, passed on its calls only: the client itself has no
    default base URL or key that another provider's call could pick up.
    """

    def __init__(self, args: argparse.Namespace, env: Mapping[str, str]) -> None:
        configured = configured_providers(env)
        self.demo: Any = None
        self.router: Router | None = None
        self.options: dict[str, str] = {}
        if not args.model and (args.base_url or args.api_key):
            flag = "--base-url" if args.base_url else "--api-key"
            raise _Failed(f"{flag} needs --model provider/model: it belongs to that model's "
                          "provider and is sent to no other")
        self.client = Client()
        if args.route:
            self.router = Router.from_env(env, client=self.client)
            if args.route not in self.router.routes:
                raise _Failed(f"unknown route {args.route!r}; configured routes: "
                              f"{', '.join(self.router.routes)}")
            self.name = args.route
            self.model = self.router.routes[args.route].model
        elif args.model:
            check_key(args.model, args.api_key, env)
            self.name = self.model = args.model
            self.options = {k: v for k, v in (("base_url", args.base_url),
                                              ("api_key", args.api_key)) if v}
        elif configured:
            self.name = self.model = DEFAULT_MODELS[configured[0]]
        else:
            self.demo = start_demo()
            self.name = self.model = _DEMO_MODEL
            self.options = {"base_url": self.demo.url("openai"), "api_key": "demo"}

    def start(self, messages: list[dict[str, Any]], **params: Any) -> StreamHandle:
        if self.router is not None:
            return self.router.chat(self.name, messages, **params)
        if self.demo is not None:
            from .testing import Script

            self.demo.push(Script(text=_demo_answer(messages),
                                  tokens_per_second=DEMO_TOKENS_PER_SECOND))
        return self.client.chat(self.model, messages, **{**self.options, **params})

    def close(self) -> None:
        if self.demo is not None:
            self.demo.stop()
        self.client.close()


def _demo_answer(messages: list[dict[str, Any]]) -> str:
    said = next((str(m.get("content", "")) for m in reversed(messages)
                 if m.get("role") == "user"), "")
    said = " ".join(said.split())
    if len(said) > 120:
        said = said[:117] + "..."
    return (f'You said: "{said}". This is the streamactors demo server, streaming one token '
            "at a time; set OPENAI_API_KEY (or another provider's key) or pass --model "
            "provider/model to hear from a real model.")


def _parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise _Failed(f"-p takes KEY=VALUE, got {pair!r}")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value
    return params


# -- chat ----------------------------------------------------------------------------


def _chat(args: argparse.Namespace) -> int:
    params = _parse_params(args.param)
    if args.timeout is not None:
        params["timeout"] = args.timeout
    prompt: str | None = args.prompt
    stdin = sys.stdin
    interactive = prompt is None and stdin is not None and stdin.isatty()
    if prompt == "-" or (prompt is None and not interactive):
        prompt = stdin.read() if stdin is not None else ""
        if not prompt.strip():
            raise _Failed("no prompt: give one as an argument or on stdin")
    history: list[dict[str, Any]] = []
    if args.system:
        history.append({"role": "system", "content": args.system})
    target = _Target(args, os.environ)
    try:
        if interactive:
            return _conversation(target, history, params, args)
        assert prompt is not None
        history.append({"role": "user", "content": prompt})
        status, _ = _one_answer(target, history, params, args)
        return status
    finally:
        target.close()


def _one_answer(target: _Target, history: list[dict[str, Any]], params: dict[str, Any],
                args: argparse.Namespace) -> tuple[int, StreamResult | None]:
    """Stream one answer; returns the exit status and the result.

    A failed stream raises its error (after the text before it was printed).
    Ctrl-C cancels the stream, waits for its worker to let go, and re-raises.
    """
    handle = target.start(list(history), **params)
    printer = AnswerPrinter(text=not args.json, reasoning=args.reasoning)
    try:
        for message in handle:
            if isinstance(message, Data):
                printer.chunk(message.chunk)
            elif isinstance(message, Error):
                printer.end()
                if args.stats and message.error.partial is not None:
                    say(format_stats(message.error.partial))
                raise message.error
            elif isinstance(message, Finish):
                _finished(printer, message.result, args)
                return 0, message.result
    except KeyboardInterrupt:
        _cancel(handle)
        printer.end()
        raise
    except BrokenPipeError:  # stdout closed (`| head`): stop quietly
        _cancel(handle)
        _silence_stdout()
        return 141, None
    raise AssertionError("the stream ended without a terminal message")


def _finished(printer: AnswerPrinter, result: StreamResult, args: argparse.Namespace) -> None:
    """After a finished answer: the JSON (``--json``) or the end of the text
    and the tool calls; a note when the answer stopped short; the stats."""
    if args.json:
        write(sys.stdout, result_json(result) + "\n")
    else:
        printer.end()
        for tc in result.tool_calls:
            say(f"tool call: {tc.name}({tc.arguments})")
    sys.stdout.flush()
    note = finish_note(result)
    if note is not None:
        say(note)
    if args.stats:
        say(format_stats(result))


def _conversation(target: _Target, history: list[dict[str, Any]], params: dict[str, Any],
                  args: argparse.Namespace) -> int:
    """Read prompts until EOF (Ctrl-D); Ctrl-C during an answer cancels it."""
    say(f"streamactors chat with {target.name}: Ctrl-D to quit, Ctrl-C to interrupt")
    while True:
        sys.stderr.write("> ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            print(file=sys.stderr)
            return 0
        if not line.strip():
            continue
        history.append({"role": "user", "content": line.rstrip("\n")})
        try:
            _, result = _one_answer(target, history, params, args)
        except KeyboardInterrupt:
            say("[cancelled]")
            history.pop()
            continue
        except (_Failed, StreamError) as exc:
            _report(exc, args)
            history.pop()
            continue
        if result is not None:
            history.append({"role": "assistant", "content": result.text})


def _cancel(handle: StreamHandle) -> None:
    handle.cancel()
    try:
        handle.wait(2.0)
    except (StreamError, TimeoutError):
        pass


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
