# Two entry points for people: `make demo` (open Sleuth on the demo data) and `make test`.
# Each creates .venv and installs what it needs when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench screenshot lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,spark]'
	@# Spark (tests/spark, --engine) runs on Java 17; install it where it is missing and apt-get exists
	command -v java >/dev/null || ! command -v apt-get >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
	@# The PDF report's tests read its pages with poppler's pdftotext/pdftoppm (a test tool, never shipped)
	command -v pdftotext >/dev/null || ! command -v apt-get >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq poppler-utils; }
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sleuth demo

test: $(STAMP)
	$(VENV)/bin/lint-imports
	@# Sleuth's own modules compiled once up front: where PYTHONDONTWRITEBYTECODE is set (as in this
	@# machine's shells) no process caches them, so every child a test starts (the CLI, the file probe)
	@# would compile all ~43,000 lines again, about 0.4 CPU-s each; pip already compiles the libraries
	$(PY) -m compileall -q analysis views app
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) tests/bench/run_all.py

screenshot: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/sleuth demo --screenshot resources/screenshot.png
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/sleuth demo --screenshots resources/screenshots --size 1280x720

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
