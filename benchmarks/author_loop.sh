#!/usr/bin/env bash
# The author's loop of issues 16 and 24, measured in one run on a temporary clone (`make
# measure-loop`), every time against the stock build of the same tree:
#   T(stock)         = `jupyter-book build --all` with `execute_notebooks: force` (every
#                      notebook executed by myst-nb, one after the other), from an empty
#                      _build/, with make book's flags (-W -n --keep-going -q);
#   T(make book)     = `make book` from an empty _build/ (the notebooks executed one per
#                      core into the execution cache first);
#   T(prose rebuild) = `make book` after a prose-only edit of a markdown cell of chapter 5;
#   T(make test)     = `make test` after that edit is reverted.
# Goals (issue 24): make book <= 0.6, prose rebuild <= 0.15, make test <= 2.5 x T(stock).
# The clone gets its own .venv from the lock and web_vendor/ first (not timed), and
# ../shared beside it when this checkout has one. The load average (/proc/loadavg) before
# and after each step and the step's CPU time are printed: the machine may be shared. The clone is left in place
# for a look at its logs (printed at the end); delete it afterwards. A step that fails is
# reported at the end (its time is then not comparable) and the others still run.
set -euo pipefail
seconds() {  # run "$@" with output to log file $1; print the wall time in seconds
  local log=$1; shift
  local t0 t1 l0
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s.%N)
  # a failure is reported, not fatal: e.g. the 10 s budget of make test on a loaded machine
  "$@" >"$log" 2>&1 || echo "FAILED (exit $?): $* (see $log): its time is not comparable" >>"$work/failed.txt"
  t1=$(date +%s.%N)
  # CPU time of the step's processes (this subshell's children, user + system)
  times >"$log.times"  # a builtin with a redirection: no fork, so the children are this shell's
  cpu=$(tail -1 "$log.times" | python3 -c "import re, sys; print(round(sum(60 * float(m) +
    float(s) for m, s in re.findall(r'(\d+)m([\d.]+)s', sys.stdin.read()))))")
  echo "$(basename "$log" .log): CPU ${cpu} s; load average before ${l0}, after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/load.txt"
  python3 -c "print(f'{$t1 - $t0:.1f}')"
}

stock() {  # the stock build: myst-nb executes every notebook itself
  local rc=0
  sed -i 's/^  execute_notebooks: cache$/  execute_notebooks: force/' _config.yml
  grep -q '^  execute_notebooks: force$' _config.yml || { echo "no execute_notebooks: cache"; return 2; }
  .venv/bin/jupyter-book build . --all -W -n --keep-going -q || rc=$?
  git checkout -q _config.yml
  return $rc
}

main() {  # one function: bash reads all of it before running (an edit of this file
           # during a run cannot change the run)
  src=$(cd "$(dirname "$0")/.." && pwd)
  work=$(mktemp -d "${TMPDIR:-/tmp}/author-loop.XXXXXX")
  git clone -q "$src" "$work/book"
  if [ -d "$src/../shared" ]; then cp -r "$src/../shared" "$work/shared"; fi
  cd "$work/book"
  make venv vendor >"$work/venv.log" 2>&1
  export PYTHONHASHSEED=0  # as the Makefile does for its own commands

  rm -rf _build
  stock_s=$(seconds "$work/stock.log" stock)
  rm -rf _build
  full=$(seconds "$work/full.log" make book)
  python3 - <<'PY'
import json
path = "chapters/05_linear_layer.ipynb"
nb = json.load(open(path))
cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown" and len(c["source"]) > 2
            and c["source"][-1].rstrip().endswith(".") and c["source"][-1][:1].isalpha()
            and "$" not in c["source"][-1])
cell["source"][-1] += " (A prose-only edit.)"
with open(path, "w") as fh:
    json.dump(nb, fh, indent=1, ensure_ascii=False)
    fh.write("\n")
PY
  prose=$(seconds "$work/prose.log" make book)
  git checkout -q chapters/05_linear_layer.ipynb
  test_s=$(seconds "$work/test.log" make test)
  python3 - "$stock_s" "$full" "$prose" "$test_s" <<'PY'
import sys
stock, full, prose, test = map(float, sys.argv[1:])
print(f"T(stock build)   {stock:6.1f} s  (jupyter-book build --all, execute_notebooks: force)")
print(f"T(make book)     {full:6.1f} s  {full / stock:.2f} x the stock build (goal <= 0.6)")
print(f"T(prose rebuild) {prose:6.1f} s  {prose / stock:.2f} x the stock build (goal <= 0.15)")
print(f"T(make test)     {test:6.1f} s  {test / stock:.2f} x the stock build (goal <= 2.5)")
PY
  cat "$work/load.txt"
  if [ -f "$work/failed.txt" ]; then cat "$work/failed.txt"; fi
  grep -h "^book: executing\|^book: executed in\|no notebook executed" "$work/full.log" "$work/prose.log" || true
  grep -h "^run 1: [0-9]* notebook\|passed\|failed" "$work/test.log" | head -5 || true
  sed -n '/^notebook execution/,/sum of the faster runs/p' "$work/test.log"
  echo "logs: $work/{venv,stock,full,prose,test}.log"
}

main "$@"
