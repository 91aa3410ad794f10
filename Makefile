# Two commands for a fresh machine:
#   make run    set up, create the demo database, serve on http://127.0.0.1:8080
#   make test   set up, lint, type-check and run the whole test suite
# Everything installs into .venv inside the repository.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
DEMO_CLIENT_PORT ?= 8081
DEMO_SAML_SP_PORT ?= 8082
DEMO_CONFIG := config/demo.toml

.PHONY: install translations run demo-db demo-saml-keys test test-deps lint format pytest clean catalog browser-deps test-servers audit bench

$(BIN)/.installed: requirements.txt requirements-dev.txt setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

install: $(BIN)/.installed translations

translations: $(BIN)/.installed
	$(BIN)/pybabel compile -d cas_server/translations

# Extract strings from code and templates (plural pairs included), update both
# catalogs from cas_server/translations/fr/*.json, compile them.
catalog: $(BIN)/.installed
	$(BIN)/python scripts/translations.py

# The demo IdP's signing pair, made once into instance/saml/ (ignored by git, never
# committed), before any command reads config/demo.toml ([saml] enabled).
DEMO_SAML_KEYS := instance/saml
demo-saml-keys: install
	@test -f $(DEMO_SAML_KEYS)/saml-signing.key || env -u CAS_SERVER_CONFIG \
	  $(BIN)/cas-server saml keygen $(DEMO_SAML_KEYS)

demo-db: demo-saml-keys
	CAS_SERVER_CONFIG=$(DEMO_CONFIG) $(BIN)/cas-server db init
	CAS_SERVER_CONFIG=$(DEMO_CONFIG) $(BIN)/cas-server demo

run: demo-db
	@echo "CAS server:  http://127.0.0.1:$(PORT)/login"
	@echo "Demo services: http://127.0.0.1:$(DEMO_CLIENT_PORT)/ent/  and  http://127.0.0.1:$(DEMO_CLIENT_PORT)/moodle/"
	@echo "Demo SAML SP: http://127.0.0.1:$(DEMO_SAML_SP_PORT)/  (pysaml2, signs in at the server's IdP)"
	@echo "Demo accounts: etudiant / Etudiant-2026!   enseignant / Enseignant-2026!   parent / Parent-2026!!   admin / Admin-Demo-2026!"
	@BIN=$(BIN) PORT=$(PORT) DEMO_CLIENT_PORT=$(DEMO_CLIENT_PORT) DEMO_CONFIG=$(DEMO_CONFIG) \
	  DEMO_SAML_SP_PORT=$(DEMO_SAML_SP_PORT) bash scripts/run-demo.sh

# Chromium and axe-core for tests/browser (Debian packages need root).
browser-deps:
	bash scripts/install-test-servers.sh

# OpenLDAP, Redis and PostgreSQL for the directory, backend and multi-node tests
# (the tests start throwaway instances themselves; Debian packages need root).
test-servers:
	bash scripts/install-test-servers.sh slapd redis postgresql

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/audit.py

# bandit over cas_server, pip-audit over the environment (also part of lint).
audit: install
	$(BIN)/python scripts/audit.py

# The benchmark suite (README "Benchmarks"): about 8 minutes; BENCH_ARGS=--quick for 3.
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Two pytest processes (pytest-xdist), one test file at a time each: a file's
# module fixtures (servers, apps) are started once. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
pytest: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Installs the real servers the tests drive (slapd, Redis, PostgreSQL, Chromium,
# axe-core) when run as root; without them those tests skip with a reason.
test-deps:
	bash scripts/install-test-servers.sh

test: test-deps lint pytest

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
