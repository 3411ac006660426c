"""``python -m streamactors``: chat with a model from the shell, or run the relay.

::

    python -m streamactors chat "Tell me a joke"             # streams to stdout
    python -m streamactors chat -m anthropic/claude-haiku-4-5 --stats "Hi"
    echo "Summarise this" | python -m streamactors chat -
    python -m streamactors chat                              # interactive
    python -m streamactors relay --port 8080                 # OpenAI-compatible relay

The answer's text goes to stdout as it arrives; everything else (notices,
``--stats``, errors) goes to stderr, so the output can be piped. With no
``--model`` and no ``--route`` the first configured provider is used (in
``Router.from_env`` order); with no provider configured at all, a built-in demo
server answers, so the command works on a fresh machine. Exit codes: 0 done,
1 error (one ``error: ...`` line), 2 bad usage, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from ._handle import StreamHandle
from ._messages import Data, Error, Finish
from ._result import StreamResult
from ._version import __version__
from .api import Client
from .errors import StreamError
from .router import DEFAULT_MODELS, Router, configured_providers

__all__ = ["main"]

Starter = Callable[[list[dict[str, Any]]], StreamHandle]

#: Pace of the demo server's answers, in tokens per second.
DEMO_TOKENS_PER_SECOND = 30.0
_DEMO_MODEL = "openai/demo-model"


class _Failed(Exception):
    """Ends the command with one ``error: ...`` line and exit status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m streamactors",
        description="Stream answers of LLM providers (OpenAI, Anthropic, Gemini, Mistral, "
        "OpenRouter, Ollama) from the shell, or relay them as an OpenAI-compatible server.",
    )
    parser.add_argument("--version", action="version", version=f"streamactors {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{chat,relay}", required=True)

    chat = sub.add_parser("chat", help="stream one answer (or a conversation) to stdout")
    chat.add_argument("prompt", nargs="?", help='the prompt; "-" reads it from stdin; '
                      "omit it for an interactive conversation")
    _target_options(chat)
    chat.add_argument("-s", "--system", help="a system message before the conversation")
    chat.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                      help="a request field, the value parsed as JSON when it is JSON "
                      "(-p temperature=0.2 -p max_tokens=100); repeatable")
    chat.add_argument("--stats", action="store_true",
                      help="print time to first token, tokens/s and usage to stderr")
    chat.add_argument("--json", action="store_true",
                      help="print the whole result as JSON instead of streaming the text")
    chat.add_argument("--timeout", type=float, default=None,
                      help="connect/read timeout in seconds")

    relay = sub.add_parser("relay", help="serve POST /v1/chat/completions (OpenAI format, "
                           "streaming) backed by any provider")
    _target_options(relay)
    relay.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    relay.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    relay.add_argument("--key", default=os.environ.get("STREAMACTORS_RELAY_KEY"),
                       help="require 'Authorization: Bearer KEY' from clients "
                       "(default: $STREAMACTORS_RELAY_KEY)")
    return parser


def _target_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-m", "--model", help="provider/model, e.g. openai/gpt-4o-mini, "
                       "anthropic/claude-haiku-4-5, gemini/gemini-2.5-flash, ollama/llama3.1")
    group.add_argument("-r", "--route", help="a route of Router.from_env() (a provider name "
                       "whose key is set, e.g. anthropic)")
    p.add_argument("--base-url", help="the provider's base URL (with --model)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "relay":
            return _relay(args)
        return _chat(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except (_Failed, StreamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


# -- choosing what answers ---------------------------------------------------------


class _Target:
    """What the command talks to: a model, a route, or the demo server."""

    def __init__(self, args: argparse.Namespace, env: Mapping[str, str]) -> None:
        configured = configured_providers(env)
        self.demo: Any = None
        if not (args.route or args.model or configured):
            self.demo = self._start_demo()
            self.client = Client(base_url=self.demo.url("openai"), api_key="demo")
        else:
            self.client = Client(base_url=args.base_url)
        self.router: Router | None = None
        if args.route:
            self.router = Router.from_env(env, client=self.client)
            if args.route not in self.router.routes:
                raise _Failed(f"unknown route {args.route!r}; configured routes: "
                              f"{', '.join(self.router.routes)}")
            self.name = args.route
            self.model = self.router.routes[args.route].model
        elif args.model:
            self.name = self.model = args.model
        elif self.demo is not None:
            self.name = self.model = _DEMO_MODEL
        else:
            self.name = self.model = DEFAULT_MODELS[configured[0]]

    @staticmethod
    def _start_demo() -> Any:
        from .testing import LoopbackServer, Script

        server = LoopbackServer(Script(tokens_per_second=DEMO_TOKENS_PER_SECOND)).start()
        keys = ", ".join(
            "OLLAMA_HOST" if p == "ollama" else "/".join(_key_env(p)) for p in DEFAULT_MODELS
        )
        print(f"streamactors: no provider configured ({keys} unset; or pass --model): "
              "answering from the built-in demo server", file=sys.stderr, flush=True)
        return server

    def start(self, messages: list[dict[str, Any]], **params: Any) -> StreamHandle:
        if self.router is not None:
            return self.router.chat(self.name, messages, **params)
        if self.demo is not None:
            from .testing import Script

            self.demo.push(Script(text=_demo_answer(messages),
                                  tokens_per_second=DEMO_TOKENS_PER_SECOND))
        return self.client.chat(self.model, messages, **params)

    def close(self) -> None:
        if self.demo is not None:
            self.demo.stop()
        self.client.close()


def _key_env(prefix: str) -> tuple[str, ...]:
    from .providers import PROVIDERS

    return PROVIDERS[prefix].key_env


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
    """Stream one answer; returns the exit status and the result (None on error).

    Ctrl-C cancels the stream, waits for its worker to let go, and re-raises.
    """
    out = sys.stdout
    handle = target.start(list(history), **params)
    wrote = ""
    try:
        for message in handle:
            if isinstance(message, Data):
                text = message.chunk.text
                if text and not args.json:
                    out.write(text)
                    out.flush()
                    wrote = text
            elif isinstance(message, Error):
                _end_line(out, wrote)
                if args.stats and message.error.partial is not None:
                    _print_stats(message.error.partial)
                raise _Failed(str(message.error))
            elif isinstance(message, Finish):
                result = message.result
                if args.json:
                    out.write(result.model_dump_json(indent=2) + "\n")
                else:
                    _end_line(out, wrote)
                    _print_tool_calls(result)
                out.flush()
                if args.stats:
                    _print_stats(result)
                return 0, result
    except KeyboardInterrupt:
        _cancel(handle)
        _end_line(out, wrote)
        raise
    except BrokenPipeError:  # stdout closed (`| head`): stop quietly
        _cancel(handle)
        _silence_stdout()
        return 141, None
    raise AssertionError("the stream ended without a terminal message")


def _conversation(target: _Target, history: list[dict[str, Any]], params: dict[str, Any],
                  args: argparse.Namespace) -> int:
    """Read prompts until EOF (Ctrl-D); Ctrl-C during an answer cancels it."""
    print(f"streamactors chat with {target.name}: Ctrl-D to quit, Ctrl-C to interrupt",
          file=sys.stderr)
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
            print("[cancelled]", file=sys.stderr)
            history.pop()
            continue
        except (_Failed, StreamError) as exc:
            print(f"error: {exc}", file=sys.stderr)
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


def _end_line(out: IO[str], wrote: str) -> None:
    if wrote and not wrote.endswith("\n"):
        out.write("\n")
        out.flush()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _print_tool_calls(result: StreamResult) -> None:
    for tc in result.tool_calls:
        print(f"tool call: {tc.name}({tc.arguments})", file=sys.stderr)


def _format_stats(result: StreamResult) -> str:
    """One line about a result: time to first token, speed, usage, duration."""
    parts = []
    if result.time_to_first_token is not None:
        parts.append(f"first token {result.time_to_first_token * 1000:.0f} ms")
    tps = result.output_tokens_per_second
    if tps is not None:
        parts.append(f"{tps:.1f} tokens/s")
    usage = result.usage
    if usage is not None:
        parts.append(f"{usage.prompt_tokens or 0} prompt + {usage.completion_tokens or 0} "
                     f"completion tokens{' (estimated)' if usage.estimated else ''}")
    if result.duration is not None:
        parts.append(f"{result.duration:.2f} s total")
    parts.append(f"{result.chunks} chunks")
    if result.retries:
        parts.append(f"{result.retries} retries")
    if result.route:
        parts.append(f"route {result.route}")
    return "stats: " + ", ".join(parts)


def _print_stats(result: StreamResult) -> None:
    print(_format_stats(result), file=sys.stderr, flush=True)


# -- relay ---------------------------------------------------------------------------


def _relay(args: argparse.Namespace) -> int:
    from ._relay import RelayServer

    target = _Target(args, os.environ)
    try:
        router = target.router
        if router is None and target.demo is None and not args.model:
            router = Router.from_env(client=target.client)
            route: str | None = next(iter(router.routes))
        else:
            route = target.name if router is not None else None
        try:
            relay = RelayServer(model=None if route else target.model, route=route,
                                router=router, client=target.client, host=args.host,
                                port=args.port, api_key=args.key)
        except OSError as exc:
            raise _Failed(f"cannot listen on {args.host}:{args.port}: {exc}") from None
        default = f"route {route}" if route else target.model
        print(f"streamactors relay on {relay.url}/v1 (default {default}); Ctrl-C to stop",
              file=sys.stderr, flush=True)
        try:
            relay.serve_forever()
        except KeyboardInterrupt:
            pass
        relay.stop()
        return 0
    finally:
        target.close()
