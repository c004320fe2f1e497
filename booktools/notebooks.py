"""Notebook hygiene: the book's chapters are committed with outputs stripped and
clean metadata. ``python -m booktools.notebooks chapters/*.ipynb`` cleans in place;
``tests/test_repo.py`` fails on a notebook that is not clean.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["ALLOWED_CELL_METADATA", "clean_notebook", "problems"]

#: Cell metadata keys a chapter may carry: tags (remove-cell, raises-exception,
#: solution, nbval-ignore-output, ...), ``mystnb`` (figure alt text and captions) and
#: ``exercise`` (the label of the exercise a solution or stub cell belongs to), and
#: ``jupyter`` only as :data:`SOLUTION_FOLD` on code cells tagged ``solution``.
ALLOWED_CELL_METADATA = {"tags", "mystnb", "exercise", "jupyter"}
#: JupyterLab (and Colab) collapse a code cell's source and outputs with this metadata.
#: jupyterlab-myst cannot fold a gated ``{solution-start}``/``{solution-end}`` solution
#: (it draws an empty "Start of Solution" box and shows the cells after it), so the
#: cleaner folds every solution code cell this way; the site ignores the key.
SOLUTION_FOLD = {"source_hidden": True, "outputs_hidden": True}
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
NOTEBOOK_METADATA = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}


def problems(nb) -> list[str]:
    """List what is not clean in a notebook (an ``nbformat.NotebookNode`` or dict)."""
    out = []
    if dict(nb.get("metadata", {})) != NOTEBOOK_METADATA:
        out.append(f"notebook metadata is {dict(nb.get('metadata', {}))}, expected {NOTEBOOK_METADATA}")
    for i, cell in enumerate(nb.get("cells", [])):
        extra = set(cell.get("metadata", {})) - ALLOWED_CELL_METADATA
        if extra:
            out.append(f"cell {i}: metadata keys {sorted(extra)} not allowed")
        folded = cell.get("metadata", {}).get("jupyter")
        solution = "solution" in cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and solution and folded != SOLUTION_FOLD:
            out.append(f"cell {i}: a solution code cell must carry jupyter: {SOLUTION_FOLD}")
        elif folded is not None and not (cell.get("cell_type") == "code" and solution):
            out.append(f"cell {i}: jupyter metadata is only for solution code cells")
        if cell.get("cell_type") == "code":
            if cell.get("outputs"):
                out.append(f"cell {i}: has outputs")
            if cell.get("execution_count") is not None:
                out.append(f"cell {i}: has an execution count")
        if "id" not in cell:
            out.append(f"cell {i}: has no id")
    return out


def clean_notebook(path: str | Path) -> bool:
    """Strip outputs, execution counts and noisy metadata in place; return True if changed."""
    import nbformat

    path = Path(path)
    before = path.read_text()
    nb = nbformat.reads(before, as_version=4)
    nb.metadata = nbformat.from_dict(NOTEBOOK_METADATA)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in ALLOWED_CELL_METADATA and v}
        )
        cell.metadata.pop("jupyter", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if "solution" in cell.metadata.get("tags", []):
                cell.metadata["jupyter"] = nbformat.from_dict(SOLUTION_FOLD)
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after)
        return True
    return False


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m booktools.notebooks NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for p in argv:
        if clean_notebook(p):
            print(f"cleaned {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
