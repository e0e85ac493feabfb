#!/usr/bin/env bash
# The built-in CPU demo pair (Gemma3-270M + SmolLM2-135M, one core each), until Ctrl-C.
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../.venv/bin/relaychat" serve --profile "${1:-cpu-demo}"
