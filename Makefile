# The README's two commands: `make demo` (the chat app on the built-in CPU demo pair) and `make test`.
.PHONY: setup demo demo-qwen3 test test-fast

setup:
	@bash launch/setup.sh

demo: setup
	.venv/bin/relaychat --profile cpu-demo

demo-qwen3: setup
	.venv/bin/relaychat --profile qwen3-tiny

test: setup
	.venv/bin/pytest

test-fast: setup
	.venv/bin/pytest -m "not integration"
