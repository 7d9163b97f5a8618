# Every command a developer or operator needs; `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Test processes `make mutate` runs at once; 1 on a machine shared with other work.
MUTATE_CHILDREN ?= 2

.DEFAULT_GOAL := help
.PHONY: help run test migrate lint bench fuzz chaos mutate i18n clean

help: ## list the commands
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime-installed

run: $(VENV)/.runtime-installed ## start everything (sandbox mode without credentials)
	$(PY) -m infra.run

test: $(VENV)/.dev-installed ## run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

migrate: $(VENV)/.runtime-installed ## apply migrations, then PLANS and CHANNEL_ID, to DATABASE_URL
	$(PY) -m infra.migrate $(if $(filter yes,$(CONFIRM)),--yes,)

lint: $(VENV)/.dev-installed ## ruff, mypy, import-linter, shellcheck
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	@if command -v shellcheck >/dev/null; then shellcheck .ci/run $$(find infra -name '*.sh'); \
	else echo "shellcheck not installed: skipped"; fi

bench: $(VENV)/.dev-installed ## benchmarks, printed as ratios
	$(PY) -m bench $(BENCH_ARGS)

fuzz: $(VENV)/.dev-installed ## 10,000 hostile postbacks at the real gateway (TEST_POSTGRES_URL)
	$(PY) -m pytest tests/webhook_gateway/test_fuzz.py -q -s -p no:cacheprovider $(PYTEST_ARGS)

chaos: $(VENV)/.dev-installed ## 1,000 subscribers under kills and faults (CHAOS_ARGS="--size 100")
	$(PY) -m tests.chaos $(CHAOS_ARGS)

mutate: $(VENV)/.dev-installed ## mutation testing of the rules and use cases; prints the survivors (MUTANTS="models.domain*")
	$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN) $(MUTANTS)
	@echo "Survivors (\`$(BIN)/mutmut show NAME\` shows one; docs/mutation-survivors.md explains the known ones):"
	@$(BIN)/mutmut results | grep -F ': survived' || echo "  none"

i18n: $(VENV)/.runtime-installed ## gather new texts into the catalogues (infra/locales); then translate the empty msgstr
	$(BIN)/pybabel extract -F infra/locales/babel.cfg -k N_ --add-comments=Translators: \
		--no-location --sort-output -w 100 --project=tg-channel-engine \
		-o infra/locales/messages.pot .
	$(BIN)/pybabel update -i infra/locales/messages.pot -d infra/locales -D messages \
		--ignore-obsolete -w 100
	@echo "Translate every empty or fuzzy msgstr; tests/infra/test_i18n_catalogue.py fails until then."

clean: ## remove the virtualenv and caches (keeps var/, your data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
