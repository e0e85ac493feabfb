#!/usr/bin/env bash
# The paper's R1 pair: DeepSeek-R1-Distill-Qwen-32B (TP2) on :8000, -1.5B on :8001. Profile: r1-1.5b-32b.
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/gpu-pair.sh" deepseek-ai/DeepSeek-R1-Distill-Qwen-32B deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \
    "$here/../relaychat/templates/r1.jinja" "$@"
