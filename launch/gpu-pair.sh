#!/usr/bin/env bash
# Start a large + small vLLM pair on GPUs with the serving setup of the RelayGen paper.
# usage: launch/gpu-pair.sh LARGE_MODEL SMALL_MODEL TEMPLATE [extra args for the large server...]
# env:   LARGE_GPUS (default 0,1; tensor-parallel over them), SMALL_GPUS (default 2),
#        LARGE_PORT (8000), SMALL_PORT (8001), MAX_MODEL_LEN (36000), VLLM (vllm)
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,5p' "$0"; exit 2; }
large="$1" small="$2" template="$3"
shift 3
large_gpus="${LARGE_GPUS:-0,1}"
tp=$(awk -F, '{print NF}' <<<"$large_gpus")
common=(
    --dtype bfloat16
    --max-model-len "${MAX_MODEL_LEN:-36000}"
    --gpu-memory-utilization 0.8
    --enable-prefix-caching          # each switch prefills only the tokens the server has not seen
    --chat-template "$template"      # renders a partial <think> turn verbatim, so it can be continued
)
export VLLM_MAX_STOP_STRINGS=1024    # vLLM caps stop strings at 4 per request; our cue stops need ~250
vllm="${VLLM:-vllm}"
CUDA_VISIBLE_DEVICES="$large_gpus" "$vllm" serve "$large" --port "${LARGE_PORT:-8000}" \
    --tensor-parallel-size "$tp" "${common[@]}" "$@" &
CUDA_VISIBLE_DEVICES="${SMALL_GPUS:-2}" "$vllm" serve "$small" --port "${SMALL_PORT:-8001}" \
    --tensor-parallel-size 1 "${common[@]}" &
trap 'kill $(jobs -p) 2>/dev/null' EXIT INT TERM
wait
