# The README's two commands: `make demo` (the chat app on the built-in CPU demo pair) and `make test`.
.PHONY: setup demo test test-fast

setup:
	@bash launch/setup.sh

demo: setup
	.venv/bin/relaychat --profile cpu-demo

test: setup
	.venv/bin/pytest

test-fast: setup
	.venv/bin/pytest -m "not integration"
