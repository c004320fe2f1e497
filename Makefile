# The two commands of the README: `make book` builds the site, `make test` runs every check.
# Both create or refresh .venv from requirements.txt (only when requirements.txt or
# pyproject.toml changed since the last install).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JB_FLAGS := -W -n --keep-going
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: venv book test test-unit test-notebooks test-browser clean clean-notebooks

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

## book: build the website with every notebook executed; any warning fails the build
book: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . $(JB_FLAGS); \
	rc=$$?; echo "jupyter-book build took $$(( $$(date +%s) - start )) s"; \
	if [ $$rc -ne 0 ]; then echo "BOOK BUILD FAILED (exit $$rc)"; exit $$rc; fi
	@echo "Site built: $(CURDIR)/_build/html/index.html"

## test: helper unit tests + every notebook under nbval, then the book build
test: test-unit-and-notebooks book
	@echo "make test: all checks passed"

test-unit-and-notebooks: $(STAMP)
	$(BIN)/python -m pytest tests chapters --nbval-lax -n 2 --dist loadfile \
	  --durations=15 -p no:cacheprovider

## clean-notebooks: strip outputs and noisy metadata from every chapter
clean-notebooks: $(STAMP)
	$(BIN)/python -m helpers.notebooks chapters/*.ipynb

clean:
	rm -rf _build
