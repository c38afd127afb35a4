# The two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export HEALTHCODE_DATA ?= $(CURDIR)/data
HOST   ?= 127.0.0.1
PORT   ?= 8080
WORKERS ?= 2

.PHONY: venv run test test-fast typecheck bench clean

venv: $(BIN)/healthcode

$(BIN)/healthcode: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# `make run PORT=8082 HOST=0.0.0.0`: the address is checked before anything is seeded.  gunicorn,
# one gthread worker per core (WORKERS; 0: Flask's development server), as `make bench` measures.
run: venv
	$(BIN)/healthcode serve --demo --host $(HOST) --port $(PORT) --workers $(WORKERS)

# The tests also need Chromium and a CJK font from Debian; the script apt-installs what is missing.
# They run the Elasticsearch tests against a real server: `scripts/elasticsearch prepare` fetches it
# (Maven Central, cached outside the repository) and the tests start and stop it themselves.
test: typecheck
	scripts/install-test-tools
	scripts/elasticsearch prepare
	$(BIN)/python -m pytest -q

# The inner loop, under a minute: no browser, no live server, no Elasticsearch, nothing measured
# slow (markers set from what each test uses: tests/support/marks.py).  `make test` runs them all.
test-fast: venv
	$(BIN)/python -m pytest -q -m "not browser and not server and not elasticsearch and not slow"

# mypy on the core packages ([tool.mypy] in pyproject.toml): a few seconds.
typecheck: venv
	$(BIN)/python -m mypy

# Not part of `make test`: speed goals live here, as ratios measured in one run.  wrk from Debian.
bench: venv
	scripts/install-bench-tools
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
