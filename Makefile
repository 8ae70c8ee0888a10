# The two set-up commands of the README, and the longer test target.
PYTHON ?= python3
PYTEST_WORKERS ?= 2

.PHONY: install chain test test-slow system-deps

install:
	$(PYTHON) -m pip install -e .

chain: install
	snakemake --profile profiles/local

system-deps:
	bash tests/services/install-system-deps.sh

# pytest's exit status 5 (no test collected, e.g. under a -k that matches nothing) is not a failure;
# --strict-skips fails the run on a skip whose reason tests/conftest.py does not list
test: system-deps
	$(PYTHON) -m pip install -e '.[test]'
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) --strict-skips $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-slow: system-deps
	$(PYTHON) -m pip install -e '.[test]'
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) -m slow --strict-skips $(PYTEST_ARGS) || [ $$? -eq 5 ]
