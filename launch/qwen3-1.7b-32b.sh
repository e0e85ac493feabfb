#!/usr/bin/env bash
# The paper's Qwen3 pair: Qwen3-32B (TP2) on :8000, Qwen3-1.7B on :8001. Profile: qwen3-1.7b-32b.
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/gpu-pair.sh" Qwen/Qwen3-32B Qwen/Qwen3-1.7B "$here/../relaychat/templates/qwen3.jinja" "$@"
