# The two commands of the README: `make book` builds the site, `make test` runs every check.
# Both create or refresh .venv from requirements.lock (only when the lock or pyproject.toml
# changed since the last install); `make lock` regenerates the lock from requirements.txt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# --all: Sphinx would otherwise skip unchanged pages, so an edit to helpers/ would not
# re-execute the notebooks that use it (execute_notebooks: force only acts on pages read)
JB_FLAGS := --all -W -n --keep-going
# `make book` reads only the pages whose source changed, and notebooks come from the
# execution cache; booktools/bookcache.py empties the cache and adds --all exactly when that
# could be stale (helpers/ or the environment changed, config/toc/_ext changed, or the last
# build failed). An unchanged page was read by the last successful -W build with the same
# keys, so its warnings were seen then. `make book ALL=1` reads every page anyway (from the
# cache); `make book FULL=1` also empties the cache first.
BOOK_FLAGS := -W -n --keep-going -q
export PYTHONHASHSEED := 0
# tests run two notebooks at once on two cores: one thread per kernel avoids oversubscription
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: venv lock book test site-and-browser test-notebooks test-unit test-unit-and-notebooks test-envs test-browser pdf jupyter-notebooks clean clean-notebooks lab vendor bench bench-grader measure-loop student book-student grade gradescope

## venv: .venv from requirements.lock, every file checked against its hash, then the book's
## helpers package (editable, no dependencies: they are all in the lock)
venv: $(STAMP)

$(STAMP): requirements.lock requirements.txt pyproject.toml
	@$(PYTHON) -m booktools.lockfile check
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## lock: regenerate requirements.lock from requirements.txt (pip-compile, with hashes; needs
## the package index). Keeps the versions already locked unless a pin in requirements.txt
## moves them; `make lock LOCK_FLAGS=--upgrade` re-resolves every transitive package.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import piptools" 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet "$$(grep -E '^pip-tools==' requirements.txt)"
	$(BIN)/python -m booktools.lockfile compile $(LOCK_FLAGS)

## book: build the website, every notebook executed (or taken from the execution cache,
## which is never stale: see BOOK_FLAGS); any warning fails the build. The notebooks the
## cache lacks are executed first, one per core, into the cache (booktools/executor.py),
## so jupyter-book reads every notebook from there (one thread per kernel: TEST_ENV); a
## cell that raises stops the build with its notebook, cell and traceback.
book: $(STAMP) vendor
	@if [ -n "$(FULL)" ]; then rm -rf _build/.jupyter_cache _build/.book-key.json; fi
	@start=$$(date +%s); \
	extra=$$($(BIN)/python -m booktools.bookcache prepare) || exit 1; \
	if [ -n "$(ALL)$(FULL)" ]; then extra=--all; fi; \
	$(TEST_ENV) $(BIN)/python -m booktools.executor book && \
	$(BIN)/jupyter-book build . $(BOOK_FLAGS) $$extra; \
	rc=$$?; echo "jupyter-book build took $$(( $$(date +%s) - start )) s"; \
	if [ $$rc -ne 0 ]; then $(BIN)/python -m booktools.bookcache failed; \
	  echo "BOOK BUILD FAILED (exit $$rc)"; exit $$rc; fi; \
	$(BIN)/python -m booktools.bookcache done
	$(BIN)/python -m booktools.plain_jupyter --site _build/html --colab-branch colab
	@echo "Site built: $(CURDIR)/_build/html/index.html"

## test: every notebook executed twice, the second time by nbval (errors, determinism,
## time; the notebooks nbval passed fill the book's execution cache), then at the same
## time the helper unit tests and, one after the other, the book build (from that cache)
## and the built site in a real browser (skipped with a banner when Chromium is missing,
## except in CI). The unit tests wait for the notebooks, whose cell times are checked, and
## then share the two cores with the build and the browser; -Orecurse prints each step's
## output in one piece when it ends.
test: $(STAMP) vendor
	@$(MAKE) --no-print-directory test-notebooks
	@$(MAKE) --no-print-directory -j2 --output-sync=recurse test-unit site-and-browser
	@echo "make test: all checks passed"

site-and-browser: $(STAMP) vendor
	@$(MAKE) --no-print-directory book
	@$(MAKE) --no-print-directory test-browser

# pytest without nbval's plugin, except for the notebooks' second run (NBVAL)
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider -p no:nbval
# the second run of each notebook: strict nbval on the executed copy the first run wrote
# (tests/nbval_plugin.py: kernel in the original folder, times, cache); the cell timeout
# is _config.yml's execute.timeout (tests/test_notebooks.py checks it)
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 120 -p tests.nbval_plugin
# `make test-notebooks NOTEBOOKS=chapters/05_linear_layer.ipynb` runs one (or a few)
NOTEBOOKS ?=

## test-notebooks: every notebook of the book twice, one per core: run 1 writes the executed
## copies to _build/nbval/ (booktools/executor.py), run 2 is pytest --nbval on them (with
## tests/test_notebooks.py, the machinery's own tests); then the times and the 10 s budget
test-notebooks: $(STAMP)
	@$(BIN)/python -m booktools.bookcache prepare-cache
	@$(TEST_ENV) $(BIN)/python -m booktools.executor reference _build/nbval $(NOTEBOOKS)
	@$(TEST_ENV) $(BIN)/python -m pytest -p no:cacheprovider -p no:hypothesispytest $(NBVAL) \
	  $(if $(NOTEBOOKS),,tests/test_notebooks.py) _build/nbval -n auto --dist loadfile -q; \
	  rc=$$?; $(BIN)/python tests/report_times.py || rc=1; exit $$rc

## test-unit: every other test under tests/ except the browser tests and `-m envs`
test-unit: $(STAMP)
	@$(TEST_ENV) $(PYTEST) tests --ignore=tests/browser --ignore=tests/test_notebooks.py \
	  -m "not envs" -n auto --dist worksteal --durations=15

test-unit-and-notebooks: test-notebooks test-unit

## test-envs: the checks that need environments of their own (pytest -m envs, minutes): a
## simulated Binder build in a fresh virtualenv; chapter 5 in a real JupyterLab; the PDF,
## which it builds first from the execution cache; the explorers under ipywidgets 7.7 (Colab's); every chapter in a kernel
## whose checks are disabled (tests/test_demo_mutations.py); the grader's sandbox alone
## against hostile submissions; the execution cache on a copy of the book; nbgrader's
## generate_assignment, autograde and generate_feedback on the course of `make nbgrader`;
## the Gradescope archive's own setup.sh in a fresh virtualenv, then run_autograder
## (BOOK_TEST_SETUP_SH=0 leaves that one out: it installs PyTorch, minutes). Two pytest-xdist
## workers: nbgrader's pipeline (about 3 min) runs beside the rest
BOOK_TEST_SETUP_SH ?= 1
test-envs: $(STAMP) pdf
	BOOK_TEST_ENVS=1 BOOK_TEST_SETUP_SH=$(BOOK_TEST_SETUP_SH) $(PYTEST) tests -m envs -rs --durations=10 \
	  -n 2 --dist worksteal

## test-browser: every page of _build/html in Chromium, with axe-core (run `make book` first),
## in two pytest-xdist workers (each page is loaded once per width: see
## tests/browser/site_browser.py). Skips with the reason when Chromium, playwright or the
## site is missing; fails instead under CI=true.
test-browser: $(STAMP)
	$(PYTEST) tests/browser -m "not envs" -q -rs -n 2 --dist loadscope


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

## bench-grader: the grader's throughput at --jobs 1 and 2 on copies of chapter 5, in one
## run (a Markdown table with the load average around each run; a few minutes)
bench-grader: $(STAMP)
	$(BIN)/python benchmarks/grader_throughput.py $(BENCH_FLAGS)

## measure-loop: issues 16 and 24's measurement in one run on a temporary clone (its own
## .venv, then: the stock build, jupyter-book build --all with execute_notebooks: force,
## from an empty _build/; make book from an empty _build/; make book after a prose-only
## edit; make test); prints the times, their ratios to the stock build and the load
## average (about 12 min here)
measure-loop:
	bash benchmarks/author_loop.sh

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

## gradescope: _build/gradescope/autograder.zip, the grader as a Gradescope autograder
## (setup.sh, run_autograder, the grader in source/; booktools/gradescope.py);
## GRADESCOPE_FLAGS="--exercises ex-linear-vjp,ex-linear-nn-vjp --points 2"
gradescope: $(STAMP)
	@$(BIN)/python -m booktools.gradescope build $(GRADESCOPE_FLAGS)

clean:
	rm -rf _build

## nbgrader: an nbgrader course in nbgrader/ (source/<chapter>/<chapter>.ipynb, nbgrader_config.py)
.PHONY: nbgrader
nbgrader: $(STAMP)
	$(BIN)/python -m booktools.nbgrader_course
