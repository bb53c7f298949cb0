# Two entry points, both safe on a fresh machine: they (re)create .venv from requirements.txt
# (runtime) and requirements-dev.txt (tests, lint, benchmarks, Scrapyd).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements.stamp
YEAR ?= 2022

.PHONY: demo test bench lint venv system-deps

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@# Scrapy's cookie middleware asks tldextract for the Public Suffix List on first use; offline
	@# that logs a traceback into the first crawl. One look-up now caches the bundled snapshot.
	@$(BIN)/python -c "from tldextract import TLDExtract; TLDExtract(include_psl_private_domains=True)('example.com')" >/dev/null 2>&1 || true
	@touch $(STAMP)

# Debian's chromium (the browser resolver), redis-server (cluster mode), tinyproxy (proxy
# tests) and xvfb (the resolver's virtual display), when missing.
system-deps:
	@bash .ci/system-deps

## Main job: replica with AWS WAF on, both spiders end to end, output in data/*.jsonl.
demo: venv system-deps
	$(BIN)/python -m cwo_scrapy.demo --year "$(YEAR)"

## Whole test suite.
test: venv system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

## Benchmarks (not part of the suite); results in bench/results/.
bench: venv system-deps
	$(BIN)/python -m bench

lint: venv
	$(BIN)/ruff check .
