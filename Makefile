# The two commands of the README: `make book` builds the site, `make test` runs every check.
# Both create or refresh .venv from requirements.txt (only when requirements.txt or
# pyproject.toml changed since the last install).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# --all: Sphinx would otherwise skip unchanged pages, so an edit to helpers/ would not
# re-execute the notebooks that use it (execute_notebooks: force only acts on pages read)
JB_FLAGS := --all -W -n --keep-going
export PYTHONHASHSEED := 0
# tests run two notebooks at once on two cores: one thread per kernel avoids oversubscription
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: jupyter-notebooks venv book test test-unit test-notebooks test-browser test-envs pdf clean clean-notebooks lab vendor bench student book-student grade

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

## book: build the website with every notebook executed; any warning fails the build
book: $(STAMP) vendor
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . $(JB_FLAGS); \
	rc=$$?; echo "jupyter-book build took $$(( $$(date +%s) - start )) s"; \
	if [ $$rc -ne 0 ]; then echo "BOOK BUILD FAILED (exit $$rc)"; exit $$rc; fi
	$(BIN)/python -m booktools.plain_jupyter --site _build/html --colab-branch colab
	@echo "Site built: $(CURDIR)/_build/html/index.html"

## test: helper unit tests + every notebook under nbval, then the book build, then the
## built site in a real browser (skipped with a banner when Chromium is missing, except in CI)
test: test-unit-and-notebooks book test-browser
	@echo "make test: all checks passed"

test-unit-and-notebooks: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest tests chapters reference/notation.ipynb --ignore=tests/browser --nbval-lax -n 2 --dist loadfile \
	  --durations=15 -p no:cacheprovider
	@$(BIN)/python tests/report_times.py

## test-browser: every page of _build/html in Chromium, with axe-core (run `make book` first).
## Skips with the reason when Chromium, playwright or the site is missing; fails instead under CI=true.
test-browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser -p no:cacheprovider -q -rs

## test-envs: the slow environment tests (tests/envs/, a fresh virtualenv each, minutes):
## the simulated Binder build (binder/ only, postBuild, one chapter executed in it)
test-envs: $(STAMP)
	BOOK_TEST_ENVS=1 $(BIN)/python -m pytest tests/envs -p no:cacheprovider -q -rs

## pdf: the whole book as one PDF (_build/pdf/, copied into _build/html/ where the site links
## to it): the singlehtml build (executes every notebook) printed by Debian's Chromium
## (_ext/book_pdf.py; MathJax from web_vendor/, nothing downloaded)
pdf: $(STAMP) vendor
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . --builder singlehtml $(JB_FLAGS) || exit $$?; \
	$(BIN)/python _ext/book_pdf.py || exit $$?; \
	echo "make pdf took $$(( $$(date +%s) - start )) s"

## jupyter-notebooks: the plain-Jupyter rendering (Colab, the download button) into
## _build/jupyter/ and the site, from the last site build (make book runs it too)
jupyter-notebooks: $(STAMP)
	@test -f _build/.doctrees/environment.pickle || { echo "run make book first"; exit 2; }
	$(BIN)/python -m booktools.plain_jupyter --site _build/html --colab-branch colab

## vendor: MathJax, require.js, the widget manager and axe-core into web_vendor/ (npm ci);
## without npm the site falls back to the CDN and the build says so
vendor:
	@if [ -f web_vendor/VERSIONS.json ] && [ web_vendor/VERSIONS.json -nt package-lock.json ]; then :; \
	elif [ -f package-lock.json ] && command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund; \
	else echo "npm not found: web_vendor/ not installed, the site will use the CDN for MathJax and widgets"; fi

## lab: open the chapters in JupyterLab, installed into .venv on first use; MyST (admonitions,
## exercises, folded solutions, math labels) is rendered by jupyterlab-myst (requirements.txt)
JUPYTERLAB := jupyterlab==4.6.6
lab: $(STAMP)
	@test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet "$(JUPYTERLAB)"
	@$(BIN)/python -c "import jupyterlab_myst" 2>/dev/null || $(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/jupyter lab chapters/

## clean-notebooks: strip outputs and noisy metadata from every chapter
clean-notebooks: $(STAMP)
	$(BIN)/python -m booktools.notebooks chapters/*.ipynb

## bench: explicit Jacobians vs VJPs: time, measured peak memory, fits (CSV, plots, table.md in benchmarks/results/; < 2 min)
bench: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/python benchmarks/jacobian_cost.py

## student: student copies in student/ (no solutions; code exercises left as stubs)
student: $(STAMP)
	$(BIN)/python -m booktools.student

## book-student: the solution-free site, built from the student copies
book-student: student
	$(BIN)/jupyter-book build student $(JB_FLAGS)
	@echo "Student site built: $(CURDIR)/student/_build/html/index.html"

## grade: make grade SUBMISSIONS=folder [GRADE_FLAGS="--jobs 2 --shard 1/3"] -> folder/grades.csv
## runs each exercise in a bubblewrap sandbox when bwrap works (its first line says whether);
## GRADE_FLAGS=--no-sandbox turns it off. See reference/instructors.md
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder"; exit 2; }
	@$(BIN)/python -m booktools.grade "$(SUBMISSIONS)" $(GRADE_FLAGS)

clean:
	rm -rf _build
