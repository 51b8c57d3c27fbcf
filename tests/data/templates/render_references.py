#!/usr/bin/python3
"""Remakes expected/<template>.<conversation>.txt: every *.jinja here rendered with every
conversation of conversations.json (no tools) and of tool_conversations.json (with its tools),
the way Hugging Face transformers' apply_chat_template renders a chat template:

  - jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
    loopcontrols extension, HF's tojson filter (json.dumps, ensure_ascii=False), raise_exception
    and strftime_now as globals; {% generation %} (HF's AssistantTracker) renders its body;
  - render(messages=..., tools=..., documents=None, add_generation_prompt=True, bos_token=...,
    eos_token=...): tools is None without tools, else the list as given (HF passes a dict tool
    as it is, so templates see the OpenAI shape {"type": "function", "function": {...}}); the
    messages are passed as given too (a tool call's `arguments` stays an object or a string);
  - strftime_now formats 2024-07-26 12:00 (the date every reference shows).

A conversation the template raises for gets no file (a stale one is removed); the script lists
those. Run it with Debian's python3 and python3-jinja2 (3.1.2) from this folder or any other:
    /usr/bin/python3 tests/data/templates/render_references.py
then update ../SHA256SUMS (sha256sum of the changed files, paths relative to tests/data).
"""
import datetime
import glob
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = datetime.datetime(2024, 7, 26, 12, 0)

# template name prefix -> (bos_token, eos_token), as the models' tokenizer configs have them
TOKENS = [
    ("NousResearch-", "<|begin_of_text|>", "<|im_end|>"),
    ("CohereForAI-", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    ("meta-llama-", "<|begin_of_text|>", "<|eot_id|>"),
    ("Qwen-", "", "<|im_end|>"),
    ("microsoft-", "<s>", "<|endoftext|>"),
    ("mistralai-", "<s>", "</s>"),
    ("google-", "<bos>", "<eos>"),
    ("deepseek-ai-", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
]


class Generation(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %}: the body, as HF renders it without a mask."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body, lineno=lineno)


def compile_template(src):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(src)


def tokens_of(name):
    for prefix, bos, eos in TOKENS:
        if name.startswith(prefix):
            return bos, eos
    sys.exit(f"{name}: no special tokens known (add its prefix to TOKENS)")


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


def main():
    convs = {name: (msgs, None) for name, msgs in load("conversations.json").items()}
    for name, c in load("tool_conversations.json").items():
        assert name not in convs, f"{name} is in both conversation files"
        convs[name] = (c["messages"], c["tools"])
    written = 0
    for path in sorted(glob.glob(os.path.join(HERE, "*.jinja"))):
        name = os.path.basename(path)[: -len(".jinja")]
        bos, eos = tokens_of(name)
        with open(path, encoding="utf-8") as f:
            template = compile_template(f.read())
        for conv, (msgs, tools) in convs.items():
            out = os.path.join(HERE, "expected", f"{name}.{conv}.txt")
            try:
                text = template.render(messages=msgs, tools=tools, documents=None, add_generation_prompt=True,
                                       bos_token=bos, eos_token=eos)
            except Exception as e:  # the template raises: no reference
                print(f"raises: {name}.{conv}: {type(e).__name__}: {e}")
                if os.path.exists(out):
                    os.remove(out)
                continue
            with open(out, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            written += 1
    print(f"jinja2 {jinja2.__version__}: {written} references written")


if __name__ == "__main__":
    main()
