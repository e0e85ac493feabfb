"""Client-side prompt rendering with each model's chat template.

Templates are rendered with Jinja2 the way transformers renders chat templates (sandboxed,
`trim_blocks`, `lstrip_blocks`, `raise_exception`), without importing transformers: the client stays
light and the bundled templates of the paper's pairs work with no model files on disk.

The relay renders a conversation once per model and then only appends generated text. That is what
makes every continuation a byte-exact extension of the first prompt, and it side-steps templates that
rewrite assistant turns (the stock Qwen3 template strips reasoning from them).
"""

from __future__ import annotations

from relaychat.core.chat_template import TemplateError, compile_template, template_source
from relaychat.core.profile import PromptFormat

__all__ = ("TemplateError", "compile_template", "render_messages", "template_source", "user_turn")

Message = dict[str, str]


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
