#!/usr/bin/env bash
# Qwen3 pair with Eagle-3 speculative decoding on the large model. Profile: qwen3-1.7b-32b-eagle3.
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/gpu-pair.sh" Qwen/Qwen3-32B Qwen/Qwen3-1.7B "$here/../relaychat/templates/qwen3.jinja" \
    --speculative-config '{"method": "eagle3", "model": "RedHatAI/Qwen3-32B-speculator.eagle3", "num_speculative_tokens": 3}' "$@"
