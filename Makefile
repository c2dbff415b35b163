# The two commands of the README. Both create or reuse .venv and install what
# they need (tools/setup.sh), so each works on a fresh clone.
VENV ?= .venv
export VENV

.PHONY: book test setup clean

book:
	@tools/setup.sh
	$(VENV)/bin/jupyter-book build . --all -W -n --keep-going
	@echo "The book is in _build/html/index.html"

test:
	@tools/setup.sh --test
	$(VENV)/bin/python -m pytest --durations=15

setup:
	@tools/setup.sh --test

clean:
	rm -rf _build
