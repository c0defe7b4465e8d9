# reliability-report: `make report` renders last month's report, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: report compute test lint format bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

# Debian packages the tests drive for real: a Prometheus server and headless Chromium.
system-deps:
	@missing=""; \
	command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

report: $(STAMP)
	$(BIN)/reliability report $(if $(MONTH),--month $(MONTH)) $(if $(CONFIG),--config $(CONFIG)) $(if $(OUT),--out $(OUT))

compute: $(STAMP)
	$(BIN)/reliability compute $(if $(MONTH),--month $(MONTH)) $(if $(CONFIG),--config $(CONFIG))

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) system-deps
	$(BIN)/python bench/bench_slo.py
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_prometheus.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
