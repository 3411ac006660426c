"""Build a tiny, deterministic Qwen2-style chat model for serving tests.

Nothing is downloaded: the tokenizer is a byte-level BPE trained here on a few
sentences, and the model is a one-layer ``Qwen2ForCausalLM`` whose weights are
set by hand so that greedy decoding always emits one of two fixed answers:

* without tools, the prompt ends with ``"<|im_start|>assistant\\n"`` and the
  model writes ``TEXT_PIECES`` (one token each), then ``<|im_end|>``;
* with tools, the chat template prefills ``<tool_call>`` (a "tool choice
  required" template) and the model writes ``TOOL_PIECES``, then
  ``</tool_call><|im_end|>``: one complete Qwen-style tool call.

How the weights make that happen: the attention output projection and the MLP
down projection are zero, so the last hidden state is the embedding of the
last token. Every token that starts a step of a chain gets an orthonormal
embedding, and the ``lm_head`` row of the token that must follow it is that
same vector, scaled. The right next token then scores ``ALPHA * sqrt(hidden)``
and every other token scores exactly zero: decoding is a lookup table, not
luck, and :func:`check_chains` proves it on the saved files.

The module imports torch, tokenizers and transformers lazily, so the test
process can read the constants without paying for (or warning about) them.
Run it as a script to build a model directory, or to build one and serve it::

    python tests/integration/_tiny_model.py build /tmp/some-dir/tiny-qwen2
    python tests/integration/_tiny_model.py serve /tmp/some-dir/tiny-qwen2 --port 8123
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

#: What the model answers to any prompt without tools, one token per piece.
TEXT_PIECES: tuple[str, ...] = ("Hello", " from", " a", " tiny", " model", ".")
EXPECTED_TEXT = "".join(TEXT_PIECES)

TOOL_NAME = "get_weather"
TOOL_ARGUMENTS: dict[str, Any] = {"city": "Paris"}
#: What the model writes after the prefilled ``<tool_call>``: three tokens of JSON.
TOOL_PIECES: tuple[str, ...] = (
    '{"name": "get_weather", ',
    '"arguments": {"city": ',
    '"Paris"}}',
)
#: The tools list a request sends (OpenAI format) to get the tool call.
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": "Current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]

EOS = "<|im_end|>"
PAD = "<|endoftext|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, "<|im_start|>", EOS)
#: Qwen's markup tokens: added, but not special, so they decode as text.
MARKUP_TOKENS: tuple[str, ...] = (
    "<tool_call>",
    "</tool_call>",
    "<tools>",
    "</tools>",
    "<tool_response>",
    "</tool_response>",
)

HIDDEN_SIZE = 64
#: Scale of the chosen logit: the winner scores ALPHA * sqrt(HIDDEN_SIZE) = 80.
ALPHA = 10.0
SEED = 1234

#: A few sentences to train the BPE on; repetition makes every word one token.
_CORPUS: tuple[str, ...] = (
    "Hello from a tiny model.",
    "Hello there, how are you today?",
    "The tiny model streams one token at a time.",
    "What is the weather in Paris?",
    "Say hi to the server from a test.",
    "A user asks and the assistant answers.",
)

#: A Qwen2-style ChatML template written for this test. With tools it lists
#: them in the system turn and prefills ``<tool_call>``, which forces a call.
CHAT_TEMPLATE = """\
{%- set ns = namespace(system='') -%}
{%- if messages and messages[0]['role'] == 'system' -%}
{%- set ns.system = messages[0]['content'] -%}
{%- endif -%}
{%- if tools -%}
<|im_start|>system
{% if ns.system %}{{ ns.system }}

{% endif %}You may call these tools:
<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools>
Call one as <tool_call>{"name": ..., "arguments": {...}}</tool_call>.<|im_end|>
{% elif ns.system -%}
<|im_start|>system
{{ ns.system }}<|im_end|>
{% endif -%}
{%- for message in messages -%}
{%- if message['role'] == 'system' -%}
{%- elif message['role'] == 'tool' -%}
<|im_start|>user
<tool_response>
{{ message['content'] }}
</tool_response><|im_end|>
{% elif message['role'] == 'assistant' -%}
<|im_start|>assistant
{% if message['content'] %}{{ message['content'] }}{% endif %}
{%- for call in (message.tool_calls or []) -%}
{%- set fn = call.function if call.function is defined else call -%}
<tool_call>{"name": {{ fn.name | tojson }}, "arguments": \
{% if fn.arguments is string %}{{ fn.arguments }}{% else %}{{ fn.arguments | tojson }}{% endif %}}\
</tool_call>
{%- endfor -%}
<|im_end|>
{% else -%}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% if tools %}<tool_call>{% endif %}
{%- endif -%}
"""


def _lib(name: str) -> Any:
    """Import a heavy optional module on first use, typed as ``Any`` (the
    transformers stack is only partly annotated)."""
    return importlib.import_module(name)


def _train_tokenizer() -> Any:
    """Train the byte-level BPE and wrap it as a ``PreTrainedTokenizerFast``."""
    tk = _lib("tokenizers")
    models, trainers = _lib("tokenizers.models"), _lib("tokenizers.trainers")
    pre_tokenizers, decoders = _lib("tokenizers.pre_tokenizers"), _lib("tokenizers.decoders")

    tok = tk.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_CORPUS) * 20, trainer=trainer)
    fast = _lib("transformers").PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    fast.add_tokens([*MARKUP_TOKENS, *TOOL_PIECES])
    return fast


def _single_token(tokenizer: Any, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise RuntimeError(f"{text!r} is {len(ids)} tokens, expected one: {ids}")
    return int(ids[0])


def _chains(tokenizer: Any) -> list[tuple[int, int]]:
    """The (token, next token) pairs the model must follow, as ids."""
    newline = _single_token(tokenizer, "\n")
    text_ids = [_single_token(tokenizer, piece) for piece in TEXT_PIECES]
    tool_ids = [_single_token(tokenizer, piece) for piece in TOOL_PIECES]
    call_open = _single_token(tokenizer, "<tool_call>")
    call_close = _single_token(tokenizer, "</tool_call>")
    eos = int(tokenizer.convert_tokens_to_ids(EOS))
    text_chain = [newline, *text_ids, eos]
    tool_chain = [call_open, *tool_ids, call_close, eos]
    pairs = list(itertools.pairwise(text_chain))
    pairs += list(itertools.pairwise(tool_chain))
    sources = [src for src, _ in pairs]
    if len(set(sources)) != len(sources):
        raise RuntimeError(f"chain tokens are not distinct: {sources}")
    return pairs


def build(directory: Path, *, check: bool = True) -> Path:
    """Write the tokenizer, config, weights and generation config to ``directory``.

    With ``check``, reload the files and run :func:`check_chains` on them.
    """
    torch, tf = _lib("torch"), _lib("transformers")
    tokenizer = _train_tokenizer()
    pairs = _chains(tokenizer)
    eos_id = int(tokenizer.convert_tokens_to_ids(EOS))
    pad_id = int(tokenizer.convert_tokens_to_ids(PAD))
    config = tf.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN_SIZE,
        intermediate_size=2 * HIDDEN_SIZE,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    torch.manual_seed(SEED)
    model = tf.Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        embed = model.model.embed_tokens.weight
        embed.normal_(0.0, HIDDEN_SIZE**-0.5)
        basis, _ = torch.linalg.qr(torch.randn(HIDDEN_SIZE, len(pairs)))
        lm_head = model.lm_head.weight
        lm_head.zero_()
        for column, (src, dst) in enumerate(pairs):
            embed[src] = basis[:, column]
            lm_head[dst] += ALPHA * basis[:, column]
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    model.generation_config = tf.GenerationConfig(
        do_sample=False, eos_token_id=eos_id, pad_token_id=pad_id, max_new_tokens=64
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if check:
        check_chains(directory)
    return directory


def check_chains(directory: Path) -> None:
    """Reload the saved model and prove both answers come out of greedy decoding."""
    torch, tf = _lib("torch"), _lib("transformers")
    tokenizer = tf.AutoTokenizer.from_pretrained(directory)
    model = tf.AutoModelForCausalLM.from_pretrained(directory).eval()
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    cases = (
        (None, EXPECTED_TEXT + EOS, "assistant\n"),
        (TOOLS, "".join(TOOL_PIECES) + "</tool_call>" + EOS, "assistant\n<tool_call>"),
    )
    for tools, expected, prompt_end in cases:
        prompt = tokenizer.apply_chat_template(
            messages, tools=tools, add_generation_prompt=True, tokenize=False
        )
        if not prompt.endswith(prompt_end):
            raise RuntimeError(f"prompt should end with {prompt_end!r}: {prompt!r}")
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=16, do_sample=False)
        produced = tokenizer.decode(out[0, ids["input_ids"].shape[-1] :])
        if produced != expected:
            raise RuntimeError(f"model produced {produced!r}, expected {expected!r}")


def serve(directory: Path, port: int, host: str = "127.0.0.1") -> None:
    """Build the model, then run ``transformers serve`` on it in this process.

    This is exactly what the ``transformers`` console script does (same entry
    point, same arguments); running it here saves a second cold import of
    torch and transformers. The model is pinned (``force_model``) by its
    directory name, relative to the working directory, so requests name it
    ``tiny-qwen2`` rather than by an absolute path. A model that fails
    :func:`check_chains` makes this exit with the reason instead of serving.
    """
    build(directory)
    os.chdir(directory.parent)
    transformers_cli = _lib("transformers.cli.transformers").main
    sys.argv = [
        "transformers", "serve", directory.name,
        "--host", host, "--port", str(port), "--device", "cpu",
    ]
    transformers_cli()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Build (and serve) a tiny Qwen2 test model.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="write the model directory and exit")
    build_cmd.add_argument("directory", type=Path)
    serve_cmd = commands.add_parser("serve", help="build, then run transformers serve on it")
    serve_cmd.add_argument("directory", type=Path)
    serve_cmd.add_argument("--port", type=int, required=True)
    serve_cmd.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(json.dumps({"model_dir": str(build(args.directory))}))
    else:
        serve(args.directory.resolve(), args.port, args.host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
