# The README's two commands: `make demo` (the chat app on the built-in CPU demo pair) and `make test`.
.PHONY: setup demo demo-qwen3 test test-fast lint

setup:
	@bash launch/setup.sh

demo: setup
	.venv/bin/relaychat --profile cpu-demo

demo-qwen3: setup
	.venv/bin/relaychat --profile qwen3-tiny

test: setup
	.venv/bin/pytest

test-fast: setup
	.venv/bin/pytest -m "not integration and not benchmark"

# Gates run by CI before the tests: style, format, types, and the layer contracts (pyproject.toml).
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports
