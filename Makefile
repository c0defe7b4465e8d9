# reliability-report: `make report` renders last month's report, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: report compute test lint format bench system-deps clean

# `make report` needs the runtime dependencies only; the tests, lint and benchmarks add the
# test extras.
$(RUNTIME): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

# Debian packages the tests drive for real: Prometheus, VictoriaMetrics, headless Chromium (it
# also prints `reliability report --pdf`), poppler-utils (pdftotext reads the PDF back) and
# PostgreSQL (the `sql` source's tests start a throwaway server).
system-deps:
	@missing=""; \
	command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v victoria-metrics >/dev/null 2>&1 || missing="$$missing victoria-metrics"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get -o DPkg::Lock::Timeout=600 update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q $$missing; \
	fi

report: $(RUNTIME)
	$(BIN)/reliability report $(if $(MONTH),--month $(MONTH)) $(if $(CONFIG),--config $(CONFIG)) $(if $(OUT),--out $(OUT))

compute: $(RUNTIME)
	$(BIN)/reliability compute $(if $(MONTH),--month $(MONTH)) $(if $(CONFIG),--config $(CONFIG))

# Both cores: each test file runs whole on one worker, so a file's fixtures are built once.
test: $(DEV) system-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(DEV) system-deps
	$(BIN)/python bench/bench_slo.py
	$(BIN)/python bench/bench_rules.py
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_report.py $(if $(SCALE),--scale $(SCALE))
	$(BIN)/python bench/bench_onefile.py
	$(BIN)/python bench/bench_prometheus.py
	$(BIN)/python bench/bench_slo_generator.py
	$(BIN)/python bench/bench_read.py
	$(BIN)/python bench/bench_read.py --sizes 30,100 --modes typed --runs 1
	$(BIN)/python bench/bench_parquet.py --runs 1
	$(BIN)/python bench/bench_sql.py --size 100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
