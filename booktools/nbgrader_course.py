"""An nbgrader course from the book's code exercises.

``python -m booktools.nbgrader_course [--out DIR]`` (``make nbgrader``) writes ``DIR``
(default ``nbgrader/``, git-ignored) with ``nbgrader_config.py`` and
``source/<chapter>/<chapter>.ipynb`` for each chapter that has code exercises. Each
exercise gets, in nbgrader's cell metadata (``nbgrader`` key, schema 3):

- a markdown cell (locked) naming the exercise and its chapter;
- an autograded-answer cell (``solution: true``): the reference solution's ``def`` line and
  docstring, the body between ``### BEGIN SOLUTION`` / ``### END SOLUTION``, which
  ``nbgrader generate_assignment`` replaces with ``raise NotImplementedError()``;
- an autograder-tests cell (``grade: true``, ``locked: true``, ``points``) that imports
  :func:`helpers.exercises.selfcheck.graded_check` itself (so that a function of that name
  defined in a student's cell does not stand in for it), calls it on the cases of the
  book's self-check seed and, between ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN
  TESTS``, on cases from a seed the student's copy does not show.

The tests run in the student's kernel, after the student's code: what that cannot protect
against, and how to grade the collected notebooks with ``booktools.grade`` instead, is in
reference/instructors.md ("On nbgrader"). tests/envs/test_nbgrader.py runs nbgrader's
real pipeline on the course.

The reference solutions are the book's code solution cells (tagged ``solution`` with an
``exercise`` label, as ``booktools.student`` reads them).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from .student import ROOT, SOLUTION_TAG, tree_cli

__all__ = ["POINTS", "HIDDEN_SEED_OFFSET", "solution_cells", "solution_source",
           "chapter_notebook", "make_course"]

POINTS = 1
#: hidden tests draw their cases from the exercise's seed plus this
HIDDEN_SEED_OFFSET = 7919
#: first line of every autograder-tests cell
IMPORT_CHECK = "from helpers.exercises.selfcheck import graded_check"
CONFIG = '''"""nbgrader configuration of the course written by `make nbgrader`."""
c = get_config()  # noqa: F821 (defined by nbgrader)
c.CourseDirectory.course_id = "backprop-linear-layer"
c.Execute.timeout = 120  # seconds per cell (the class nbgrader runs notebooks with)
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
'''


def solution_cells(nb) -> list[tuple[str, str]]:
    """(label, source) of each code solution cell of a chapter whose exercise is graded."""
    from helpers.exercises import EXERCISES

    return [(c.metadata["exercise"], c.source) for c in nb.cells
            if c.cell_type == "code" and SOLUTION_TAG in c.metadata.get("tags", [])
            and c.metadata.get("exercise") in EXERCISES]


def solution_source(source: str, label: str) -> str:
    """The answer cell: the whole reference solution, with the exercise function's body
    (after its docstring) inside ``### BEGIN SOLUTION`` / ``### END SOLUTION``.

    Raises
    ------
    ValueError
        If the source does not define the exercise's function.
    """
    from helpers.exercises import EXERCISES

    func = EXERCISES[label].func
    tree = ast.parse(source)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func]
    if not defs:
        raise ValueError(f"solution of {label} does not define {func}(...)")
    node = defs[0]
    body = node.body
    if (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str) and len(body) > 1):
        body = body[1:]
    lines = source.splitlines()
    start, end = body[0].lineno - 1, node.end_lineno
    if body[0].lineno == node.lineno:
        raise ValueError(f"solution of {label}: a one-line def cannot hold a solution region")
    # comment lines just above the first statement belong to the body
    while start - 1 > node.lineno - 1 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    indent = " " * body[0].col_offset
    out = (lines[:start] + [f"{indent}### BEGIN SOLUTION"] + lines[start:end]
           + [f"{indent}### END SOLUTION"] + lines[end:])
    return "\n".join(out)


def _meta(grade_id: str, *, solution: bool, grade: bool, locked: bool, points: int = 0):
    m = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
         "solution": solution, "task": False}
    if grade:
        m["points"] = points
    return {"nbgrader": m}


def _id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)[:64]


def chapter_notebook(chapter: str, solutions: list[tuple[str, str]]):
    """The nbgrader source notebook of ``chapter`` for its graded ``solutions``."""
    from helpers.exercises import EXERCISES

    new_md, new_code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [new_md(f"# {chapter}: graded exercises\n\nEach exercise is stated in the book's "
                    f"chapter `{chapter}`. Write your code where it says `YOUR CODE HERE`; "
                    f"the cell below each answer is graded ({POINTS} point each). Your function "
                    f"may not call the book's helpers it re-implements."),
             new_code("import math\n\nimport torch")]
    cells[0].metadata.update(_meta("intro", solution=False, grade=False, locked=True))
    cells[1].metadata.update(_meta("setup", solution=False, grade=False, locked=True))
    for label, src in solutions:
        ex = EXERCISES[label]
        md = new_md(f"## Exercise `{label}`\n\nWrite `{ex.func}({', '.join(ex.args)})` "
                    f"(chapter `{chapter}`, exercise `{label}`).")
        md.metadata.update(_meta(f"{label}-text", solution=False, grade=False, locked=True))
        ans = new_code(solution_source(src, label))
        ans.metadata.update(_meta(f"{label}-answer", solution=True, grade=False, locked=False))
        # the test cell imports the judge itself: a student's cell that defines a function
        # named graded_check must not stand in for it (the import runs after their cells)
        test = new_code(f"{IMPORT_CHECK}\n\n"
                        f"assert graded_check({label!r}, {ex.func})\n"
                        f"### BEGIN HIDDEN TESTS\n"
                        f"assert graded_check({label!r}, {ex.func}, "
                        f"seed={ex.seed + HIDDEN_SEED_OFFSET})\n"
                        f"### END HIDDEN TESTS")
        test.metadata.update(_meta(f"{label}-test", solution=False, grade=True, locked=True,
                                   points=POINTS))
        cells += [md, ans, test]
    for c in cells:
        c.id = _id(c.metadata["nbgrader"]["grade_id"])
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def make_course(root: str | Path = ROOT, out: str | Path | None = None) -> Path:
    """Write the course folder ``out`` (default ``root/nbgrader``); return it."""
    root = Path(root).resolve()
    out = Path(out).resolve() if out is not None else root / "nbgrader"
    if out == root or root.is_relative_to(out):
        raise ValueError(f"refusing to write into {out}: it contains the book")
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(CONFIG)
    total = 0
    for path in sorted((root / "chapters").glob("*.ipynb")):
        sols = solution_cells(nbformat.read(path, as_version=4))
        if not sols:
            continue
        nb = chapter_notebook(path.stem, sols)
        nbformat.validate(nb)
        dest = out / "source" / path.stem / f"{path.stem}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
        total += len(sols)
        print(f"{dest}: {len(sols)} graded exercises")
    print(f"{out}: {total} graded exercises; run `nbgrader generate_assignment <chapter>` "
          f"there (with the book's helpers importable)")
    return out


def main(argv: list[str] | None = None) -> int:
    return tree_cli("python -m booktools.nbgrader_course", __doc__.split("\n\n")[0],
                    make_course, "output folder (default: ROOT/nbgrader)", argv)


if __name__ == "__main__":
    raise SystemExit(main())
