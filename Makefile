# The two set-up commands of the README, and the longer test target.
PYTHON ?= python3
PYTEST_WORKERS ?= 2

# pip runs only when pyproject.toml changed since the last install into this interpreter (a stamp per
# interpreter in .make/); the install is editable, so code changes need none.
STAMP_DIR := .make/$(subst /,_,$(shell $(PYTHON) -c 'import sys; print(sys.prefix)'))
# the htcondor2 bindings that Snakemake's HTCondor plugin imports warn on every call on a machine without
# HTCondor ("CONDOR_CONFIG is unset"); this .pth file in the interpreter's site-packages filters that one message
QUIET_CONDOR = cp profiles/quiet-condor.pth "$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/" \
	|| echo "note: could not install profiles/quiet-condor.pth; Snakemake may warn that CONDOR_CONFIG is unset"

.PHONY: install chain test test-slow system-deps

install: $(STAMP_DIR)/install

$(STAMP_DIR)/install: pyproject.toml profiles/quiet-condor.pth
	$(PYTHON) -m pip install -e .
	$(QUIET_CONDOR)
	mkdir -p $(@D) && touch $@

$(STAMP_DIR)/install-test: pyproject.toml profiles/quiet-condor.pth
	$(PYTHON) -m pip install -e '.[test]'
	$(QUIET_CONDOR)
	mkdir -p $(@D) && touch $@ $(@D)/install

chain: install
	snakemake --profile profiles/local

system-deps:
	bash tests/services/install-system-deps.sh

# pytest's exit status 5 (no test collected, e.g. under a -k that matches nothing) is not a failure;
# --strict-skips fails the run on a skip whose reason tests/conftest.py does not list
test: system-deps $(STAMP_DIR)/install-test
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) --strict-skips $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-slow: system-deps $(STAMP_DIR)/install-test
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) -m slow --strict-skips $(PYTEST_ARGS) || [ $$? -eq 5 ]
