"""Chat templates by name, path or inline text, compiled once (sandboxed Jinja2, as transformers does).

Kept apart from prompt rendering so a profile can check its templates when it loads without importing
the renderer (which needs the profile's prompt format).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


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
