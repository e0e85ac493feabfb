"""Client-side prompt rendering with each model's chat template.

Templates are rendered with Jinja2 the way transformers renders chat templates (sandboxed,
`trim_blocks`, `lstrip_blocks`, `raise_exception`), without importing transformers: the client stays
light and the bundled templates of the paper's pairs work with no model files on disk.

The relay renders a conversation once per model and then only appends generated text. That is what
makes every continuation a byte-exact extension of the first prompt, and it side-steps templates that
rewrite assistant turns (the stock Qwen3 template strips reasoning from them).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from relaychat.core.profile import PromptFormat

Message = dict[str, str]


class TemplateError(ValueError):
    pass


def _raise(message: str) -> None:
    raise TemplateError(message)


@lru_cache(maxsize=32)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"chat template does not compile: {exc}") from exc


def template_source(template: str) -> str:
    """Bundled name -> its file; a path -> the file; anything else is inline Jinja."""
    bundled = resources.files("relaychat.templates").joinpath(f"{template}.jinja")
    if "\n" not in template and "{" not in template:
        if bundled.is_file():
            return bundled.read_text(encoding="utf-8")
        path = Path(template).expanduser()
        if path.is_file():
            return path.read_text(encoding="utf-8")
        raise TemplateError(f"no chat template named {template!r} (neither bundled nor a file)")
    return template


def compile_template(template: str) -> jinja2.Template:
    """A template by name, path or inline text, compiled; TemplateError when missing or broken."""
    return _compile(template_source(template))


def render_messages(
    fmt: PromptFormat,
    messages: list[Message],
    *,
    add_generation_prompt: bool = True,
    continue_final_message: bool = False,
) -> str:
    """Render like `tokenizer.apply_chat_template(..., tokenize=False)`.

    `continue_final_message` cuts the output right after the last message's content, as transformers
    does, so a partial assistant turn can be continued.
    """
    if continue_final_message and add_generation_prompt:
        raise TemplateError("continue_final_message and add_generation_prompt exclude each other")
    full = list(messages)
    if fmt.system is not None and not (full and full[0]["role"] == "system"):
        full.insert(0, {"role": "system", "content": fmt.system})
    rendered = compile_template(fmt.template).render(
        messages=full,
        add_generation_prompt=add_generation_prompt,
        bos_token=fmt.bos_token,
        eos_token=fmt.eos_token,
    )
    if continue_final_message:
        final = full[-1]["content"]
        cut = rendered.rfind(final.strip() if final.strip() else final)
        if cut < 0:
            raise TemplateError("the template does not render the final message verbatim")
        rendered = rendered[: cut + len(final.strip() if final.strip() else final)]
    return rendered


def user_turn(fmt: PromptFormat, question: str) -> str:
    """The user's question with the profile's instruction appended (the paper's math instruction)."""
    return f"{question}\n{fmt.instruction}" if fmt.instruction else question


def render_prefix(fmt: PromptFormat, conversation: list[Message]) -> str:
    """The fixed prompt of one generation: conversation, generation prompt, reasoning opener.

    `conversation` ends with the user's latest question; earlier assistant turns hold answers only.
    """
    if not conversation or conversation[-1]["role"] != "user":
        raise TemplateError("a conversation to answer must end with a user message")
    turns = [
        {"role": m["role"], "content": user_turn(fmt, m["content"]) if m["role"] == "user" else m["content"]}
        for m in conversation
    ]
    return render_messages(fmt, turns) + fmt.reasoning_start
