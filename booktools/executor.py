"""Execute the book's notebooks a few at a time (``make book``, ``make test``).

Both commands execute with this module: one process drives one kernel per core (nbclient
on asyncio), each notebook in its own folder, its kernel over an encrypted connection,
with the cell timeout of ``_config.yml`` (``execute.timeout``).

* ``python -m booktools.executor book``: before ``jupyter-book build``, the notebooks of the
  table of contents that the execution cache (``_build/.jupyter_cache``) has no record
  for are executed in parallel and stored there under the jupyter-cache hash that myst-nb
  looks up, so the build itself executes nothing (``execute_notebooks: cache``). A cell
  that raises prints its notebook, cell and traceback and fails the build; nothing is
  stored for that notebook. Run it after ``python -m booktools.bookcache prepare``, which
  empties a cache that could be stale.
* ``python -m booktools.executor reference OUT [notebook ...]``: the first of the two runs
  of ``make test``: every notebook (default: the table of contents) executed, the executed
  copy written to ``OUT/<its path>`` for nbval to compare the second run against
  (``pytest --nbval OUT``, with ``tests/nbval_plugin.py``), its times to
  ``_build/notebook-times/<stem>.json``, the book root and the execution key to
  ``OUT/source.json``. A cell that raises is reported in one line; nbval's run then shows
  that cell with its traceback.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# nbformat validates with jsonschema, which imports its optional checker of the "iri"
# formats, rfc3987_syntax, when present; that module compiles a grammar on import (1.5 s
# of CPU at the start of every build here). The notebook schema uses no such format: the
# module is marked absent, and jsonschema goes without that checker.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
import yaml  # noqa: E402

from booktools import bookcache  # noqa: E402

ROOT = bookcache.ROOT
_IMPORT_LINE = re.compile(r"^(import|from)\s", re.M)


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """Every ``.ipynb`` file that ``_toc.yml`` lists, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("chapters"))
            walk(entry.get("sections"))

    for key in ("parts", "chapters", "sections"):
        walk(toc.get(key))
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def cell_timeout(root: Path = ROOT) -> int:
    """The cell timeout of the book build (``execute.timeout`` in ``_config.yml``)."""
    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    return int((config.get("execute") or {}).get("timeout", 30))


def jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# ----------------------------------------------------------------- the time split

def imports_cell(nb) -> int:
    """Index of the imports cell: the first code cell with an import line that is not
    hidden (the Colab setup cell, tagged ``remove-cell``, comes before it)."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i in code:
        cell = nb.cells[i]
        if "remove-cell" not in cell.metadata.get("tags", []) and _IMPORT_LINE.search(cell.source):
            return i
    return code[0] if code else -1


def _stamp(cell, key):
    value = cell.metadata.get("execution", {}).get(key)
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def split_times(nb, started: datetime, wall: float) -> dict[str, float]:
    """Kernel start (launch until the first cell starts), imports (the code cells up to
    and including the imports cell), the other cells and the rest of ``wall`` (messages
    between cells, kernel shutdown), in seconds, from nbclient's cell timestamps."""
    last_import = imports_cell(nb)
    imports = cells = 0.0
    first_busy = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        t0, t1 = _stamp(cell, "iopub.execute_input"), _stamp(cell, "shell.execute_reply")
        busy = _stamp(cell, "iopub.status.busy") or t0
        if first_busy is None and busy is not None:
            first_busy = busy
        if t0 is None or t1 is None:
            continue
        if i <= last_import:
            imports += (t1 - t0).total_seconds()
        else:
            cells += (t1 - t0).total_seconds()
    kernel = (first_busy - started).total_seconds() if first_busy else 0.0
    times = {"kernel_s": kernel, "imports_s": imports, "cells_s": cells, "wall_s": wall}
    times["other_s"] = wall - kernel - imports - cells
    return {k: round(v, 2) for k, v in times.items()}


# ----------------------------------------------------------------- execution

@dataclass
class Run:
    path: Path
    nb: object = None
    times: dict = field(default_factory=dict)
    error: str | None = None      # the failing cell and its traceback
    summary: str | None = None    # the same in one line

    def where(self, root: Path = ROOT) -> str:
        p = self.path
        return p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)


def _failing_cell(nb) -> tuple[int, int]:
    """(cell index, code cell number counted from 0 as nbval does) of the first error."""
    n = -1
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            n += 1
            if any(o.output_type == "error" for o in cell.get("outputs", [])):
                return i, n
    return -1, -1


async def _execute(path: Path, seconds: int, slots: asyncio.Semaphore, root: Path) -> Run:
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # encrypted kernel connections (no "Kernel is running over TCP without encryption")
    start_kw = ({"transport_encryption": "auto"}
                if "transport_encryption" in KernelManager.class_trait_names() else {})
    run = Run(path, nbformat.read(path, as_version=4))
    kernel = run.nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(run.nb, timeout=seconds, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}},
                            record_timing=True, allow_errors=False,
                            # the outputs are all in: kill the kernel, do not wait for it
                            shutdown_kernel="immediate")
    async with slots:
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        try:
            await client.async_execute(**start_kw)
        except CellExecutionError as err:
            index, number = _failing_cell(run.nb)
            run.summary = (f"{run.where(root)}: Cell {number} (cell index {index}) raised "
                           f"{err.ename}: {err.evalue}")
            run.error = f"{run.summary}\n{err}"
        except (CellTimeoutError, DeadKernelError, RuntimeError, TimeoutError) as err:
            # a cell over the timeout, a kernel that died or did not start
            run.summary = run.error = f"{run.where(root)}: {type(err).__name__}: {err}"
        run.times = split_times(run.nb, started, time.perf_counter() - t0)
    return run


def execute_all(paths: list[Path], n_jobs: int | None = None, root: Path = ROOT,
                on_done=None) -> list[Run]:
    """Execute ``paths``, ``n_jobs`` at a time (default: one per core), in the order
    given; ``on_done(run)`` is called as each one finishes."""
    seconds = cell_timeout(root)

    async def run_all():
        slots = asyncio.Semaphore(n_jobs or jobs())
        tasks = [asyncio.ensure_future(_execute(p, seconds, slots, root)) for p in paths]
        for task in asyncio.as_completed(tasks):
            run = await task
            if on_done:
                on_done(run)
        return [t.result() for t in tasks]

    return asyncio.run(run_all())


def without_timing(nb):
    """A copy without nbclient's timing records: jupyter-cache hashes the cell metadata,
    and the build's own executions (record_timing off) do not write them."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def store_in_cache(nb, path: Path, seconds: float, key: str | None, root: Path = ROOT) -> bool:
    """Put an executed notebook into the book's execution cache (``root/_build``), if the
    cache was filled under ``key`` and ``key`` is still the execution key."""
    if key is None or not bookcache.cache_is_current(key, root) or bookcache.exec_key(root) != key:
        return False  # helpers/ or the environment changed meanwhile: cache nothing
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(root / "_build" / bookcache.CACHE.name))
    cache.cache_notebook_bundle(
        CacheBundleIn(without_timing(nb), str(path), data={"execution_seconds": seconds}),
        check_validity=False, overwrite=True)
    return True


def uncached(paths: list[Path], root: Path = ROOT) -> list[Path]:
    """The notebooks that myst-nb would not find in the execution cache."""
    from jupyter_cache import get_cache

    cache = get_cache(str(root / "_build" / bookcache.CACHE.name))
    out = []
    for path in paths:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            out.append(path)
    return out


# ----------------------------------------------------------------- the commands

def book(root: Path = ROOT) -> int:
    """``make book``: execute what the cache lacks, in parallel, into the cache."""
    todo = uncached(toc_notebooks(root), root)
    if not todo:
        return 0
    key = bookcache.exec_key(root)
    n = min(jobs(), len(todo))
    print(f"book: executing {len(todo)} notebook(s), {n} at a time", file=sys.stderr)
    failed = []

    def done(run):
        if run.error:
            failed.append(run)
            print(f"book: {run.error}", file=sys.stderr)
        else:
            store_in_cache(run.nb, run.path, run.times["wall_s"], key, root)

    start = time.perf_counter()
    execute_all(todo, n, root=root, on_done=done)
    print(f"book: executed in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if failed:
        print("book: a cell raised (above: the cell and its traceback) in "
              + ", ".join(r.where(root) for r in failed), file=sys.stderr)
        return 1
    return 0


def reference(out: Path, paths: list[Path], root: Path = ROOT) -> int:
    """``make test``, run 1: the executed copies that nbval compares run 2 against."""
    if out.is_dir():
        shutil.rmtree(out)  # only this run's copies: `pytest --nbval OUT` collects them all
    out.mkdir(parents=True)
    (out / "source.json").write_text(json.dumps({"root": str(root),
                                                 "exec_key": bookcache.exec_key(root)}))
    times = root / "_build" / "notebook-times"
    if times.is_dir():
        shutil.rmtree(times)  # only this run's notebooks are reported and checked
    times.mkdir(parents=True)

    def done(run):
        copy_path = out / run.path.relative_to(root)
        copy_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(without_timing(run.nb), str(copy_path))
        (times / f"{run.path.stem}.json").write_text(json.dumps(
            {"notebook": run.where(root), "runs": [run.times]}))
        state = f"FAILED: {run.summary}" if run.error else "ok"
        print(f"run 1: {run.where(root)} {run.times['wall_s']:.1f} s, {state}", flush=True)

    start = time.perf_counter()
    execute_all(paths, root=root, on_done=done)
    print(f"run 1: {len(paths)} notebook(s) in {time.perf_counter() - start:.1f} s, "
          f"{jobs()} at a time; run 2 is nbval on the copies in {out}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["book"]:
        return book()
    if argv[:1] == ["reference"] and len(argv) >= 2:
        root = Path(os.environ.get("BOOK_ROOT", ROOT)).resolve()
        paths = [Path(p).resolve() for p in argv[2:]] or toc_notebooks(root)
        return reference(Path(argv[1]).resolve(), paths, root)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
