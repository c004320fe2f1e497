"""Student copies of the chapters: no solutions, a stub for each code exercise.

``python -m booktools.student`` (``make student``) writes ``student/`` (git-ignored):

- ``student/chapters/*.ipynb``: every chapter with the cells tagged ``solution``
  removed, each code solution replaced by a stub with the same signature (and
  docstring) that raises ``NotImplementedError("<label>: write your code here")``,
  and outputs and noisy metadata cleared. The exercise's self-check then prints
  "not implemented yet" instead of failing.
- everything else the book needs (``helpers/``, ``reference/``, ``_config.yml``,
  ``_toc.yml``, ...), so that ``student/`` is a book of its own:
  ``jupyter-book build student`` (``make book-student``) builds the solution-free
  site. Its ``_config.yml`` re-executes every notebook and has no launch buttons
  (they would open the repository's notebooks, which contain the solutions).

The work is done by nbconvert preprocessors on ``nbformat`` notebooks:
:class:`StubSolutionsPreprocessor` (ours: inserts the stubs), then nbconvert's
``TagRemovePreprocessor`` (drops ``solution`` cells), ``ClearOutputPreprocessor``
and ``ClearMetadataPreprocessor``. The authoring rules are in CONTRIBUTING.md
("Exercises"); the instructors' page explains the workflow.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml
from nbconvert.preprocessors import (
    ClearMetadataPreprocessor,
    ClearOutputPreprocessor,
    Preprocessor,
    TagRemovePreprocessor,
)

from .notebooks import ALLOWED_CELL_METADATA, NOTEBOOK_METADATA

__all__ = ["SOLUTION_TAG", "StubSolutionsPreprocessor", "stub_source", "student_notebook",
           "write_student_copy", "make_student_tree", "tree_cli"]

SOLUTION_TAG = "solution"
ROOT = Path(__file__).resolve().parent.parent

#: what a student book needs besides the chapters (copied if present)
BOOK_FILES = ["_config.yml", "_toc.yml", "references.bib", "intro.md", "requirements.txt",
              "pyproject.toml"]
BOOK_DIRS = ["helpers", "reference", "_ext", "_static", "_templates", "images", "figures"]
#: generated folders the build uses if present (large: linked, not copied)
BOOK_LINKS = ["web_vendor"]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")

_SOLUTION_DIRECTIVE = re.compile(r"^\s*(```+|:::+)\s*\{solution(-start|-end)?\}", re.M)


def _exercise_function(label: str) -> str | None:
    from helpers.exercises import EXERCISES  # late: keeps `import booktools.student` light

    return EXERCISES[label].func if label in EXERCISES else None


def stub_source(source: str, label: str) -> str:
    """The stub that replaces a code solution cell.

    Keeps the solution function's decorators, signature (verbatim, with annotations)
    and docstring; its body becomes ``raise NotImplementedError("<label>: ...")``.
    The function is the one :data:`helpers.exercises.EXERCISES` names for ``label``,
    else the first top-level ``def my_...``, else the first top-level ``def``.

    Raises
    ------
    ValueError
        If the source does not parse or defines no function.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ValueError(f"solution cell of {label} is not valid Python: {exc}") from None
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    want = _exercise_function(label)
    chosen = ([d for d in defs if d.name == want] or [d for d in defs if d.name.startswith("my_")]
              or defs)
    if not chosen:
        raise ValueError(f"solution cell of {label} defines no function (expected "
                         f"`def {want or 'my_...'}(...)`)")
    node = chosen[0]
    lines = source.splitlines()
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    body0 = node.body[0]
    if body0.lineno > node.lineno:
        # the header may span several lines; it ends on the line before the body
        header = "\n".join(lines[first - 1:body0.lineno - 1]).rstrip()
        # drop comment lines between the header and the body
        while header.splitlines()[-1].lstrip().startswith("#"):
            header = "\n".join(header.splitlines()[:-1])
    else:  # one-line def
        decos = "".join(f"@{ast.unparse(d)}\n" for d in node.decorator_list)
        ret = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        header = f"{decos}def {node.name}({ast.unparse(node.args)}){ret}:"
    indent = " " * (node.col_offset + 4)
    doc = ""
    if (isinstance(body0, ast.Expr) and isinstance(body0.value, ast.Constant)
            and isinstance(body0.value.value, str) and body0.lineno > node.lineno):
        doc = "\n".join(lines[body0.lineno - 1:body0.end_lineno]) + "\n"
    return (f"# Exercise {label}: replace the `raise` line with your code, then run the\n"
            f"# check below.\n" + _policy_comment(label) +
            f"{header}\n{doc}{indent}raise NotImplementedError(\"{label}: write your code here\")")


def _policy_comment(label: str) -> str:
    """The exercise's grading policy as comment lines (what the grader enforces: the
    allowlist and the rules of :class:`helpers.exercises.core.Policy`), or ''."""
    import textwrap

    from helpers.exercises import EXERCISES

    ex = EXERCISES.get(label)
    if ex is None:
        return ""
    rule = (f"Graded by `make grade`: you may use {ex.policy.allow_text()}; {ex.policy.text}"
            + ("" if ex.policy.finite_differences or "f" not in ex.args
               else "; calling f at points other than x (finite differences) gets no credit")
            + ("" if ex.policy.op_budget is None
               else f"; finite differences (evaluating the layer once per entry) get no "
                    f"credit: one call may run at most {ex.policy.op_budget} tensor "
                    f"operations")
            + ".")
    return "".join(f"# {line}\n" for line in textwrap.wrap(rule, 86))


class StubSolutionsPreprocessor(Preprocessor):
    """Insert, before each code solution cell, a stub cell for its exercise.

    A code solution cell is a code cell tagged ``solution`` with cell metadata
    ``"exercise": "<label>"``. The stub has the same ``exercise`` metadata and no
    tags; nbconvert's ``TagRemovePreprocessor`` removes the solution afterwards.
    """

    def preprocess(self, nb, resources):
        cells = []
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            label = cell.metadata.get("exercise")
            # only code exercises get a stub; a text exercise's checking cell is just dropped
            if cell.cell_type == "code" and SOLUTION_TAG in tags and _exercise_function(label or ""):
                stub = nbformat.v4.new_code_cell(stub_source(cell.source, label))
                stub.id = re.sub(r"[^A-Za-z0-9_-]", "-", f"stub-{label}")[:64]
                stub.metadata["exercise"] = label
                cells.append(stub)
                resources.setdefault("stubs", []).append(label)
            cells.append(cell)
        nb.cells = cells
        return nb, resources


def _leaks(nb) -> list[str]:
    """Solutions left in a student notebook because they were not tagged."""
    from helpers.exercises import EXERCISES

    funcs = {ex.func for ex in EXERCISES.values()}
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and _SOLUTION_DIRECTIVE.search(cell.source):
            out.append(f"cell {i}: a {{solution}} directive in a cell not tagged 'solution'")
        if cell.cell_type == "code" and not cell.id.startswith("stub-"):
            for name in re.findall(r"^def (my_\w+)\s*\(", cell.source, re.M):
                if name in funcs:
                    out.append(f"cell {i}: defines {name} but is not tagged 'solution'")
    return out


def student_notebook(nb):
    """Return the student copy of a notebook (an ``nbformat.NotebookNode``; not modified).

    Raises
    ------
    ValueError
        If a solution would survive (an untagged ``{solution}`` directive or ``def
        my_...`` of an exercise), or a code solution cell has no function to stub.
    """
    nb = copy.deepcopy(nbformat.from_dict(nb))
    resources: dict = {}
    steps = [
        StubSolutionsPreprocessor(),
        TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True),
        ClearOutputPreprocessor(),
        ClearMetadataPreprocessor(preserve_cell_metadata_mask=set(ALLOWED_CELL_METADATA),
                                  clear_notebook_metadata=True, enabled=True),
    ]
    for step in steps:
        nb, resources = step.preprocess(nb, resources)
    nb.metadata = nbformat.from_dict(NOTEBOOK_METADATA)
    leaks = _leaks(nb)
    if leaks:
        raise ValueError("solution left in the student copy: " + "; ".join(leaks))
    return nb


def write_student_copy(src: str | Path, dest: str | Path) -> list[str]:
    """Write the student copy of notebook ``src`` to ``dest``; return its stubs' labels."""
    nb = nbformat.read(str(src), as_version=4)
    before = sum(SOLUTION_TAG in c.metadata.get("tags", []) for c in nb.cells)
    try:
        out = student_notebook(nb)
    except ValueError as exc:
        raise ValueError(f"{src}: {exc}") from None
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    Path(dest).write_text(nbformat.writes(out) + "\n")
    labels = [c.metadata["exercise"] for c in out.cells if c.id.startswith("stub-")]
    print(f"{dest}: {before} solution cells removed, {len(labels)} stubs"
          + (f" ({', '.join(labels)})" if labels else ""))
    return labels


def _student_config(text: str) -> str:
    cfg = yaml.safe_load(text) or {}
    cfg["title"] = f"{cfg.get('title', 'Book')} (student edition, no solutions)"
    cfg.setdefault("execute", {})["execute_notebooks"] = "force"
    # launch buttons and the repository button would lead to the notebooks with solutions
    cfg.pop("launch_buttons", None)
    html = cfg.setdefault("html", {})
    for key in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
        html[key] = False
    return ("# Generated by `python -m booktools.student` from the book's _config.yml: the\n"
            "# solution-free student edition. Do not edit; edit the original instead.\n"
            + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))


def make_student_tree(root: str | Path = ROOT, out: str | Path | None = None) -> Path:
    """Write the student tree ``out`` (default ``root/student``) from the book at ``root``.

    Chapters are the notebooks the table of contents lists (or, without a
    ``_toc.yml``, ``chapters/*.ipynb``); every other file listed there and the
    :data:`BOOK_FILES` and :data:`BOOK_DIRS` that exist are copied.
    ``out`` is replaced entirely.
    """
    root = Path(root).resolve()
    out = Path(out).resolve() if out is not None else root / "student"
    if out == root or root.is_relative_to(out):
        raise ValueError(f"refusing to overwrite {out}: it contains the book")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in BOOK_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, out / name)
    for name in BOOK_DIRS:
        if (root / name).is_dir():
            shutil.copytree(root / name, out / name, ignore=_IGNORE)
    for name in BOOK_LINKS:
        if (root / name).is_dir():
            (out / name).symlink_to(root / name, target_is_directory=True)
    if (root / "_config.yml").is_file():
        (out / "_config.yml").write_text(_student_config((root / "_config.yml").read_text()))
    notebooks, others = [], []
    if (root / "_toc.yml").is_file():
        toc = yaml.safe_load((root / "_toc.yml").read_text())
        files = [toc["root"]] + [c["file"] for p in toc.get("parts", [])
                                 for c in p.get("chapters", [])]
        for f in files:
            for suffix in (".ipynb", ".md"):
                if (root / f"{f}{suffix}").is_file():
                    (notebooks if suffix == ".ipynb" else others).append(f"{f}{suffix}")
                    break
    else:
        notebooks = [str(p.relative_to(root)) for p in sorted(root.glob("chapters/*.ipynb"))]
    for rel in others:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, out / rel)
    n_stubs = 0
    for rel in notebooks:
        n_stubs += len(write_student_copy(root / rel, out / rel))
    plain = _plain_student_copies(root, out, notebooks)
    (out / "README.md").write_text(
        "# Student copies (generated: do not edit)\n\n"
        "Written by `python -m booktools.student` (`make student`). The notebooks in\n"
        "`chapters/` have no solutions; each code exercise is a stub that raises\n"
        "`NotImplementedError`. Replace it with your code and run the check cell below it.\n"
        "Install the helpers with `pip install -e .` in this folder (or run the first cell\n"
        "in Colab). `jupyter-book build .` builds the solution-free site.\n"
        "`jupyter/chapters/` holds the same copies rendered for plain Jupyter and Colab\n"
        "(links, numbered exercises, no MyST roles), when the book's site was built first.\n")
    print(f"{out}: {len(notebooks)} notebooks, {n_stubs} code-exercise stubs" + plain)
    return out


def _plain_student_copies(root: Path, out: Path, notebooks: list[str]) -> str:
    """The student copies in the plain-Jupyter rendering (``booktools.plain_jupyter``, the
    form Colab and the download button get), in ``out/jupyter/``; needs a site build."""
    build = root / "_build"
    if not (build / ".doctrees" / "environment.pickle").is_file():
        return "; no plain-Jupyter copies (build the site first: make book)"
    from .plain_jupyter import plain_notebook

    problems = []
    for rel in notebooks:
        if not rel.startswith("chapters/"):
            continue
        nb = nbformat.read(out / rel, as_version=4)
        rendered, found = plain_notebook(nb, rel[: -len(".ipynb")], build=build, solutions=False)
        problems += found
        dest = out / "jupyter" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(rendered, dest)
    if problems:
        raise ValueError("plain-Jupyter student copies: " + "; ".join(problems))
    return f"; plain-Jupyter copies in {out / 'jupyter'}"


def tree_cli(prog: str, description: str, make, out_help: str,
             argv: list[str] | None = None) -> int:
    """The command line of a generator of a folder from the book (``--root``, ``--out``):
    ``make(root, out)`` is called; a ``ValueError`` it raises is printed, exit status 1."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--root", default=str(ROOT), help="the book's root (default: this repository)")
    parser.add_argument("--out", default=None, help=out_help)
    args = parser.parse_args(argv)
    try:
        make(args.root, args.out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return tree_cli("python -m booktools.student", __doc__.split("\n\n")[0], make_student_tree,
                    "output folder (default: ROOT/student)", argv)


if __name__ == "__main__":
    raise SystemExit(main())
