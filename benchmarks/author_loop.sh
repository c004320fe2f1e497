#!/usr/bin/env bash
# The author's loop of issue 16, measured in one run on a temporary clone (`make
# measure-loop`): T(full build) = `make book` from an empty _build/, T(prose rebuild) =
# `make book` after a prose-only edit of a markdown cell of chapter 5, T(make test) after
# that edit is reverted; ratios to the full build. The clone gets its own .venv from the
# lock first (not timed) and ../shared beside it when this checkout has one. The clone is
# left in place for a look at its logs (printed at the end); delete it afterwards.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/author-loop.XXXXXX")
git clone -q "$src" "$work/book"
if [ -d "$src/../shared" ]; then cp -r "$src/../shared" "$work/shared"; fi
cd "$work/book"
make venv >"$work/venv.log" 2>&1

seconds() {  # run "$@" with output to log file $1; print the wall time in seconds
  local log=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1 || { echo "failed: $* (see $log)" >&2; tail -20 "$log" >&2; exit 1; }
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.1f}')"
}

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
python3 - "$full" "$prose" "$test_s" <<'PY'
import sys
full, prose, test = map(float, sys.argv[1:])
print(f"T(full build)    {full:6.1f} s")
print(f"T(prose rebuild) {prose:6.1f} s  {prose / full:.2f} x the full build (goal <= 0.25)")
print(f"T(make test)     {test:6.1f} s  {test / full:.2f} x the full build (goal <= 2.5)")
PY
grep -h "no notebook executed\|notebooks executed" "$work/prose.log" || true
sed -n '/^notebook execution/,/sum of the faster runs/p' "$work/test.log"
echo "logs: $work/{venv,full,prose,test}.log"
