"""pytest plugin for the second run of ``make test``: ``pytest --nbval`` on the executed
copies that the first run wrote (``python -m booktools.executor reference _build/nbval``).

nbval does the checking: it executes every code cell again in a fresh kernel and compares
its outputs with the copy's (sanitized by ``tests/nbval_sanitize.cfg``; cells tagged
``nbval-ignore-output`` only have to run), and a failure is nbval's report of that cell.
This plugin adds what nbval does not do:

* nbval's kernel runs in the *original* notebook's folder (where the first run and the
  book build run it), not in the copy's, over an encrypted connection like the executor's
  kernels, and executes each cell with ``store_history=True`` as Jupyter does (nbval 0.11
  does not, which makes IPython ignore a trailing ``;``);
* the second run's times (from pytest's reports: kernel start = the first cell's setup,
  imports, other cells, rest) are added to ``_build/notebook-times/<stem>.json``, which
  ``tests/report_times.py`` prints and checks against the 10 s budget;
* a notebook whose cells all passed is stored in the book's execution cache (the first
  run's copy, which the second run matched), if the execution key did not change since the
  first run, so the book build that follows executes nothing.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

# loaded with -p, before nbval: spare each pytest process the 1.5 s import of
# rfc3987_syntax by nbformat's jsonschema (see booktools/executor.py)
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402

from booktools import executor  # noqa: E402

#: written by ``booktools.executor reference`` into the copies' folder
SOURCE = "source.json"
_reports: dict[str, list] = defaultdict(list)


def _mirror(path: Path) -> tuple[Path, dict] | None:
    """The copies' folder above ``path`` and its source.json, if any."""
    for parent in [path, *path.parents]:
        if (parent / SOURCE).is_file():
            return parent, json.loads((parent / SOURCE).read_text())
    return None


def source_of(path: Path) -> tuple[Path, Path, str] | None:
    """(original notebook, book root, execution key of the first run) of a copy."""
    found = _mirror(path.resolve())
    if found is None:
        return None
    mirror, info = found
    return Path(info["root"]) / path.resolve().relative_to(mirror), Path(info["root"]), info["exec_key"]


def _patch_nbval() -> None:
    import nbval.kernel
    import nbval.plugin
    import zmq
    from jupyter_client import KernelManager
    from traitlets import CaselessStrEnum

    if zmq.has("curve") and "transport_encryption" in KernelManager.class_trait_names():
        class EncryptedKernelManager(KernelManager):
            transport_encryption = CaselessStrEnum(
                ["disabled", "auto", "required"], default_value="auto", config=True)

        nbval.kernel.KernelManager = EncryptedKernelManager

    running_kernel = nbval.plugin.RunningKernel

    def kernel_in_source_folder(kernel_name, cwd=None, **kw):
        found = _mirror(Path(cwd).resolve()) if cwd else None
        if found is not None:
            mirror, info = found
            cwd = str(Path(info["root"]) / Path(cwd).resolve().relative_to(mirror))
        return running_kernel(kernel_name, cwd=cwd, **kw)

    nbval.plugin.RunningKernel = kernel_in_source_folder

    def execute_cell_input(self, cell_input, allow_stdin=None):
        # nbval 0.11 sends store_history=False, so IPython's check for a trailing ";"
        # reads the previous cell and a `compare(...);` cell shows its value (nbval issue
        # 194, IPython issue 14162): execute as Jupyter and the book build do
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin,
                               stop_on_error=False)

    nbval.kernel.RunningKernel.execute_cell_input = execute_cell_input


def pytest_configure(config):
    if config.getoption("nbval", False):
        _patch_nbval()


def pytest_collection_modifyitems(items):
    from nbval.plugin import IPyNbCell

    for item in items:  # the reports carry them to xdist's controller
        if isinstance(item, IPyNbCell):
            item.user_properties += [("notebook", str(item.path)), ("cell", item.cell_num)]


def pytest_runtest_logreport(report):
    props = dict(report.user_properties)
    if "notebook" in props:
        _reports[props["notebook"]].append(
            (props["cell"], report.when, report.duration, report.outcome))


def _run2_times(reports, nb) -> dict:
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    last_import = code.index(executor.imports_cell(nb)) if code else -1
    calls = {cell: d for cell, when, d, _ in reports if when == "call"}
    kernel = sum(d for cell, when, d, _ in reports if when == "setup" and cell == 0)
    imports = sum(d for cell, d in calls.items() if cell <= last_import)
    cells = sum(d for cell, d in calls.items() if cell > last_import)
    wall = sum(d for _, _, d, _ in reports)
    times = {"kernel_s": kernel, "imports_s": imports, "cells_s": cells, "wall_s": wall,
             "other_s": wall - kernel - imports - cells}
    return {k: round(v, 2) for k, v in times.items()}


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: its reports reach the controller, which records them
    for file, reports in _reports.items():
        copy_path = Path(file)
        source = source_of(copy_path)
        if source is None:
            continue
        original, root, key = source
        nb = nbformat.read(copy_path, as_version=4)
        record = root / "_build" / "notebook-times" / f"{original.stem}.json"
        runs = json.loads(record.read_text())["runs"][:1] if record.is_file() else []
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"notebook": original.relative_to(root).as_posix(),
                                      "runs": runs + [_run2_times(reports, nb)]}))
        if all(outcome != "failed" for *_, outcome in reports) and runs:
            executor.store_in_cache(nb, original, runs[0]["wall_s"], key, root)
