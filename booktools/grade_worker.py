"""The grader's worker: executes one prepared notebook (runs INSIDE the sandbox).

``python grade_worker.py NOTEBOOK CELL_TIMEOUT [UID]`` -- copied by
:mod:`booktools.grade` into the per-submission folder, with the notebook it prepared
(a trusted first cell, the student's vetted cell, the trusted cell that calls the
student's function on the cases and saves the records). It imports only nbformat and
nbclient (not the book's code, which the sandbox does not show), drops to ``UID`` if
given (when the grader runs as root), executes the notebook with a time limit per
cell, and writes ``status.json``: per cell, whether it raised, timed out or killed the
kernel. The student's code can rewrite that file too: the grader uses it only to
explain a missing outputs file, never to decide a verdict.
"""

import json
import os
import sys


def main() -> int:
    path, cell_timeout = sys.argv[1], float(sys.argv[2])
    if len(sys.argv) > 3 and os.geteuid() == 0:
        uid = int(sys.argv[3])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # from here on no capabilities: an ordinary, unknown user
    # nbformat imports jsonschema, which imports rfc3987_syntax when it is installed (it is:
    # JupyterLab's jupyter-events wants it) and so compiles an IRI grammar, 1.1 s of every
    # exercise; notebook validation never checks an IRI format, so it is not loaded
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(path, as_version=4)
    status = {"cells": {}, "dead": None, "failed": None}
    current = {"index": None}

    def on_execute(cell, cell_index, **_):
        current["index"] = cell_index

    def on_executed(cell, cell_index, execute_reply, **_):
        content = (execute_reply or {}).get("content", {})
        if content.get("status") == "error":
            status["cells"][str(cell_index)] = {
                "ename": str(content.get("ename"))[:200],
                "evalue": str(content.get("evalue"))[:500]}

    client = NotebookClient(
        nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
        interrupt_on_timeout=True, startup_timeout=120, record_timing=False,
        error_on_timeout={"ename": "GradeCellTimeout",
                          "evalue": f"cell exceeded {cell_timeout:g} s", "traceback": []},
        timeout_func=lambda cell: cell.metadata.get("grader_timeout", cell_timeout),
        on_cell_execute=on_execute, on_cell_executed=on_executed,
        resources={"metadata": {"path": os.getcwd()}})
    try:
        client.execute()
    except DeadKernelError:
        status["dead"] = current["index"]
    except Exception as exc:  # noqa: BLE001 - reported to the grader, which diagnoses it
        status["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        status["dead"] = current["index"]
    with open("status.json", "w") as fh:
        json.dump(status, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
