# cisco_cms.mmp: `make demo` runs the playbooks against a simulated CMS cluster, `make test` runs every suite.
# Both set up .venv first (scripts/setup.sh: fast when nothing changed). See README.md.

SHELL := /bin/bash
PY := .venv/bin/python
export PATH := $(CURDIR)/.venv/bin:$(PATH)

# The pytest suites, in the order they run (tests/cmssim is the simulator, tests/unit also runs under
# ansible-test units on the installed collection).
PYTEST_DIRS := $(wildcard tests/sim tests/unit tests/integration)
# Four xdist workers on 2 cores: most of a test's time is waiting on simulated transitions, so two workers left the
# cores idle 40% of the time; four keep them about 80% busy (the suite took 13.4 min instead of 18.5).
# `make test PYTEST_WORKERS=1` runs them serially.
PYTEST_WORKERS ?= 4
PYTEST_ARGS ?=

.PHONY: help setup demo test lint-python pytest molecule ansible-test sanity units ansible-lint build format clean

help:
	@echo "make demo          simulated 3-node CMS cluster + the collection's playbooks (lab in \$$LAB_DIR, default lab/)"
	@echo "make test          every test suite: lint-python (ruff, mypy) pytest molecule ansible-test (build, sanity, units; ansible-core 2.19 and 2.16) ansible-lint"
	@echo "make setup         Debian packages, .venv and Python packages (done by demo and test)"
	@echo "make lint-python | pytest | molecule | sanity | units | ansible-lint | build | format | clean"

setup:
	@scripts/setup.sh

demo: setup
	@scripts/demo.sh

# Fail fast, cheapest first.
test: setup
	@$(MAKE) --no-print-directory lint-python
	@$(MAKE) --no-print-directory pytest
	@$(MAKE) --no-print-directory molecule
	@$(MAKE) --no-print-directory ansible-test
	@$(MAKE) --no-print-directory ansible-lint

# mypy runs through the checkout's ansible_collections symlink, so that plugins/ is checked under the names it is
# imported by (every plugin: module_utils, plugin_utils, action, filter, modules, doc_fragments), against Python
# 3.10's standard library: ansible-core 2.16 controllers may run plugins/ on 3.10. Then the tests and the simulator
# (3.11, as .venv), so that each of their `type: ignore`s is one a checker reads (warn_unused_ignores).
lint-python:
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .
	.venv/bin/mypy --python-version 3.10 -p ansible_collections.cisco_cms.mmp.plugins
	.venv/bin/mypy tests

# Exit status 5 means "no tests collected": an error when a suite directory exists (its tests went missing),
# nothing to do when none exists yet.
pytest:
ifeq ($(strip $(PYTEST_DIRS)),)
	@echo "pytest: no test directories (tests/sim tests/unit tests/integration) yet"
else
	$(PY) -m pytest $(if $(filter-out 0 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS)) $(PYTEST_ARGS) $(PYTEST_DIRS)
endif

# The molecule scenarios of extensions/molecule/ (each a simulated CMS lab: create, converge, idempotence, verify,
# destroy), run from the collection root as molecule 26 expects; `make molecule MOLECULE_SCENARIOS=service_certs`
# runs one. Each scenario's ephemeral directory (its lab) is under .ansible/molecule/ of this checkout, so that two
# checkouts (molecule keys its default by the directory's base name) never share or stop each other's labs.
MOLECULE_SCENARIOS ?= $(patsubst extensions/molecule/%/molecule.yml,%,$(wildcard extensions/molecule/*/molecule.yml))

# `molecule test` destroys the lab after a failure too; the trap also stops it after an interrupt.
molecule:
	@for scenario in $(MOLECULE_SCENARIOS); do \
		SECONDS=0; \
		export MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/.ansible/molecule/$$scenario; \
		trap "molecule destroy -s $$scenario >/dev/null 2>&1; exit 130" INT TERM; \
		molecule test -s $$scenario || exit 1; \
		echo "molecule: scenario $$scenario passed in $${SECONDS}s"; \
	done

# build (+ tarball content check), sanity and units on one build of the collection, each with the newest (.venv)
# and the oldest claimed ansible-core (2.16); `make sanity ANSIBLE_TEST_CORES=newest` runs one.
ansible-test:
	scripts/ansible-test.sh sanity units

sanity:
	scripts/ansible-test.sh sanity

units:
	scripts/ansible-test.sh units

# The whole collection from its root (galaxy.yml, meta/, changelogs/, roles/, playbooks/, extensions/, ...);
# .ansible-lint keeps local state and the checkout's ansible_collections symlink out.
ansible-lint:
	.venv/bin/ansible-lint --profile production --offline

# The release tarball, checked, in the repository root.
build:
	scripts/ansible-test.sh build

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache tests/output cisco_cms-mmp-*.tar.gz .ansible/molecule
	find . -path ./.venv -prune -o -path ./ansible_collections -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
