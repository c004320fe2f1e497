"""Student copies (booktools/student.py) and the solution-free site.

A tiny synthetic chapter (written to tmp_path, independent of the real chapters)
carries one text exercise and two code exercises in the CONTRIBUTING.md form, with a
marker string in every solution. Its student copy must contain no marker, keep the
signatures and docstrings as stubs, and execute with every check reporting "not
implemented yet". The real chapters get the same no-solution-left check, and the
solution-free site is built from a synthetic book and searched for the markers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from booktools.notebooks import problems
from helpers.exercises import EXERCISES
from booktools.student import make_student_tree, stub_source, student_notebook, write_student_copy

from .conftest import ROOT, chapter_paths

MARKERS = ["MARKER-TEXT-SOLUTION", "MARKER-LINEAR-SOLUTION", "MARKER-RESIDUAL-SOLUTION"]

RIGHT = {
    "ex-linear-vjp": '''\
def my_linear_vjp(G, X, W):
    """Gradients of Y = X @ W + b.

    Returns (dX, dW, db), shapes (N, D), (D, M), (M,).
    """
    # solution: ex-linear-vjp MARKER-LINEAR-SOLUTION
    X2, G2 = X.reshape(-1, X.shape[-1]), G.reshape(-1, G.shape[-1])
    dX = G @ W.T
    dW = X2.T @ G2
    db = G2.sum(dim=0)
    return dX, dW, db
''',
    "ex-mlp-residual": '''\
def my_residual_mlp_backward(dZ3: torch.Tensor, X: torch.Tensor, W1, b1, W2, b2, W3, b3,
                             lam: float) -> tuple:
    # solution: ex-mlp-residual MARKER-RESIDUAL-SOLUTION
    Z1 = X @ W1 + b1
    A1 = torch.relu(Z1)
    Z2 = A1 @ W2 + b2
    A2 = A1 + torch.relu(Z2)
    dA2 = dZ3 @ W3.T
    dZ2 = dA2 * (Z2 > 0)
    dA1 = dZ2 @ W2.T + dA2
    dZ1 = dA1 * (Z1 > 0)
    return (dZ1 @ W1.T, X.T @ dZ1 + lam * W1, dZ1.sum(0), A1.T @ dZ2 + lam * W2,
            dZ2.sum(0), A2.T @ dZ3 + lam * W3, dZ3.sum(0))
''',
}


def _cell(kind, source, tags=(), exercise=None):
    cell = (nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell)(
        textwrap.dedent(source).strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    if exercise:
        cell.metadata["exercise"] = exercise
    return cell


def _code_exercise(label, func, check, solution):
    return [
        _cell("md", f"""\
            ```{{exercise}} Write {func}
            :label: {label}

            Write `{func}`.
            ```"""),
        _cell("md", f"```{{solution-start}} {label}\n:class: dropdown\n```", tags=["solution"]),
        _cell("code", solution, tags=["solution"], exercise=label),
        _cell("md", "```{solution-end}\n```", tags=["solution"]),
        _cell("code", f"{check}({func})"),
    ]


def synthetic_chapter(solutions=None):
    """A small chapter in the book's exercise format (an ``nbformat`` notebook)."""
    solutions = {**RIGHT, **(solutions or {})}
    cells = [
        _cell("md", "(sec-synthetic)=\n# A synthetic chapter\n\nFor the tests."),
        _cell("code", """\
            import torch
            from helpers.exercises import check_linear_vjp, check_residual_mlp_backward"""),
        _cell("code", """\
            X = torch.arange(6, dtype=torch.float64).reshape(2, 3)
            print("body ran:", float(X.sum()))"""),
        _cell("md", "(sec-synthetic-exercises)=\n## Exercises"),
        _cell("md", """\
            ```{exercise} Why transpose?
            :label: ex-synthetic-why

            Why does dW contain a transpose?
            ```"""),
        _cell("md", """\
            ```{solution} ex-synthetic-why
            :class: dropdown

            MARKER-TEXT-SOLUTION: because shapes must match.
            ```""", tags=["solution"]),
        *_code_exercise("ex-linear-vjp", "my_linear_vjp", "check_linear_vjp",
                        solutions["ex-linear-vjp"]),
        *_code_exercise("ex-mlp-residual", "my_residual_mlp_backward",
                        "check_residual_mlp_backward", solutions["ex-mlp-residual"]),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python",
                                  "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, c in enumerate(nb.cells):
        c.id = f"cell-{i}"
    return nb


def execute(nb, cwd, timeout=60):
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def text_of(nb) -> str:
    parts = []
    for c in nb.cells:
        parts.append(c.source)
        for o in c.get("outputs", []):
            parts.append(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_stub_keeps_signature_and_docstring():
    src = stub_source(RIGHT["ex-linear-vjp"], "ex-linear-vjp")
    assert "def my_linear_vjp(G, X, W):" in src
    assert "Returns (dX, dW, db), shapes (N, D), (D, M), (M,)." in src
    assert 'raise NotImplementedError("ex-linear-vjp: write your code here")' in src
    assert "G @ W.T" not in src and "X2.T" not in src and "MARKER" not in src
    src = stub_source(RIGHT["ex-mlp-residual"], "ex-mlp-residual")
    assert ("def my_residual_mlp_backward(dZ3: torch.Tensor, X: torch.Tensor, W1, b1, W2, b2, "
            "W3, b3,\n                             lam: float) -> tuple:") in src
    assert "MARKER" not in src and "Z2 > 0" not in src
    one_line = stub_source("def my_residual_mlp_backward(dZ3, X, W1, b1, W2, b2, W3, b3, lam): "
                           "return None", "ex-mlp-residual")
    assert one_line.splitlines()[-2:] == [
        "def my_residual_mlp_backward(dZ3, X, W1, b1, W2, b2, W3, b3, lam):",
        '    raise NotImplementedError("ex-mlp-residual: write your code here")']
    compile(src, "stub", "exec")
    with pytest.raises(ValueError, match="defines no function"):
        stub_source("x = 1", "ex-linear-vjp")


def test_student_copy_has_no_solution_and_is_clean():
    nb = synthetic_chapter()
    out = student_notebook(nb)
    text = nbformat.writes(out)
    for marker in MARKERS:
        assert marker in nbformat.writes(nb)
        assert marker not in text, marker
    assert "solution" not in {t for c in out.cells for t in c.metadata.get("tags", [])}
    assert "{solution" not in text
    stubs = [c for c in out.cells if c.id.startswith("stub-")]
    assert [c.metadata["exercise"] for c in stubs] == ["ex-linear-vjp", "ex-mlp-residual"]
    assert problems(out) == []
    # the original is untouched and the exercise text and checks are kept
    assert len(nb.cells) == len(out.cells) + 7 - 2  # 7 solution cells out, 2 stubs in
    assert "check_linear_vjp(my_linear_vjp)" in text and ":label: ex-synthetic-why" in text


def test_untagged_solution_is_refused():
    nb = synthetic_chapter()
    nb.cells[5].metadata["tags"] = []  # the text solution, untagged by mistake
    with pytest.raises(ValueError, match="solution.*not tagged"):
        student_notebook(nb)
    nb = synthetic_chapter()
    nb.cells[8].metadata["tags"] = []  # a code solution, untagged by mistake
    with pytest.raises(ValueError, match="defines my_linear_vjp but is not tagged"):
        student_notebook(nb)


def test_student_copy_runs_and_reports_not_implemented(tmp_path):
    src = tmp_path / "05_linear_layer.ipynb"
    nbformat.write(synthetic_chapter(), str(src))
    dest = tmp_path / "student" / "05_linear_layer.ipynb"
    assert write_student_copy(src, dest) == ["ex-linear-vjp", "ex-mlp-residual"]
    nb = execute(nbformat.read(str(dest), as_version=4), tmp_path)
    out = text_of(nb)
    assert "body ran: 15.0" in out
    assert "ex-linear-vjp: not implemented yet" in out
    assert "ex-mlp-residual: not implemented yet" in out
    assert not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))


def test_the_solution_notebook_passes_its_checks(tmp_path):
    nb = execute(synthetic_chapter(), tmp_path)
    out = text_of(nb)
    assert "ex-linear-vjp: correct on" in out and "ex-mlp-residual: correct on" in out


def test_traceback_of_a_wrong_answer_hides_the_helpers(tmp_path):
    """In a notebook, a failed check shows the diagnosis, not frames of helpers/exercises/."""
    wrong = RIGHT["ex-linear-vjp"].replace("X2.T @ G2", "G2.T @ X2")
    nb = synthetic_chapter({"ex-linear-vjp": wrong})
    with pytest.raises(Exception) as info:
        execute(nb, tmp_path)
    message = str(info.value)
    assert "dW is the transpose of the right answer" in message
    # one frame of helpers/exercises/core.py (the checker the student called), none deeper
    plain = re.sub(r"\x1b\[[0-9;]*m", "", message)
    assert plain.count("exercises/core.py") == 1, plain
    assert "exercises/ch05.py" not in plain
    assert "in close" not in plain and "in _close" not in plain and "in _call" not in plain and "cases()" not in plain


def synthetic_book(root):
    """A two-page book in ``root`` using the real _config.yml, with the synthetic chapter."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    shutil.copy(ROOT / "references.bib", root / "references.bib")
    shutil.copytree(ROOT / "helpers", root / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("_ext", "_static"):  # local Sphinx extensions the config may name
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    if (ROOT / "web_vendor").is_dir():
        (root / "web_vendor").symlink_to(ROOT / "web_vendor", target_is_directory=True)
    (root / "intro.md").write_text("(sec-intro)=\n# Intro\n\nA synthetic book.\n")
    (root / "chapters").mkdir()
    nbformat.write(synthetic_chapter(), str(root / "chapters" / "05_linear_layer.ipynb"))
    (root / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "intro",
        "parts": [{"caption": "Chapters", "chapters": [{"file": "chapters/05_linear_layer"}]}]}))
    return root


def test_student_tree_is_a_book(tmp_path):
    book = synthetic_book(tmp_path / "book")
    out = make_student_tree(book, tmp_path / "student")
    assert (out / "chapters" / "05_linear_layer.ipynb").is_file()
    assert (out / "helpers" / "exercises" / "ch05.py").is_file() and (out / "intro.md").is_file()
    # the student copy ships the self-checks, not the grader or the other tooling
    assert not (out / "booktools").exists()
    assert not {"grade.py", "student.py", "notebooks.py"} & {p.name for p in (out / "helpers").iterdir()}
    cfg = yaml.safe_load((out / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "force"
    assert "launch_buttons" not in cfg and cfg["html"]["use_repository_button"] is False
    assert "student edition" in cfg["title"]
    with pytest.raises(ValueError, match="refusing"):
        make_student_tree(book, book)


@pytest.mark.skipif(shutil.which("jupyter-book", path=os.path.dirname(sys.executable)) is None,
                    reason="jupyter-book is not installed next to this Python")
def test_solution_free_site_has_no_solution_text(tmp_path):
    """`make book-student` in miniature: build the student tree, grep the HTML."""
    book = synthetic_book(tmp_path / "book")
    out = make_student_tree(book, tmp_path / "student")
    jb = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    proc = subprocess.run([jb, "build", str(out), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pages = list((out / "_build" / "html").rglob("*.html"))
    html = "\n".join(p.read_text() for p in pages)
    assert "05_linear_layer.html" in {p.name for p in pages}
    for marker in MARKERS + ["G @ W.T", "solution-start", "solution-end"]:
        assert marker not in html, marker
    assert "ex-linear-vjp: not implemented yet" in html
    assert "Why transpose?" in html  # the exercises themselves are there
    # the executed student notebooks offered for download have no solutions either
    for p in (out / "_build").rglob("*.ipynb"):
        assert not any(m in p.read_text() for m in MARKERS), p


# ---------------------------------------------------------------- the real chapters

REAL = [p for p in chapter_paths() if p.is_file()]


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_real_chapter_student_copy_has_no_solution(path):
    nb = nbformat.read(str(path), as_version=4)
    out = student_notebook(nb)
    text = nbformat.writes(out)
    assert problems(out) == []
    for cell in nb.cells:
        if "solution" not in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code" and cell.metadata.get("exercise") in EXERCISES:
            # every line of the solution's body, except its signature and docstring
            stub = stub_source(cell.source, cell.metadata["exercise"])
            for line in cell.source.splitlines():
                s = line.strip()
                if len(s) > 12 and s not in stub and not s.startswith(("#", '"""', "'''")):
                    assert not re.search(rf"^\s*{re.escape(s)}\s*$", text, re.M), s
        elif cell.cell_type == "code":
            # a text exercise's checking cell: dropped whole, no stub
            for line in cell.source.splitlines():
                s = line.strip()
                if len(s) > 30 and not s.startswith("#"):
                    assert not re.search(rf"^\s*{re.escape(s)}\s*$", text, re.M), s
        elif cell.cell_type == "markdown":
            body = [ln.strip() for ln in cell.source.splitlines()[2:] if len(ln.strip()) > 30]
            for s in body:
                assert s not in text, s


def _has_code_solution(path) -> bool:
    nb = nbformat.read(str(path), as_version=4)
    return any(c.metadata.get("exercise") in EXERCISES and "solution" in c.metadata.get("tags", [])
               for c in nb.cells)


STUBBED = [p for p in REAL if _has_code_solution(p)]


@pytest.mark.parametrize("path", STUBBED, ids=[p.stem for p in STUBBED])
def test_real_chapter_student_copy_runs_to_not_implemented(path):
    """Every cell of the student copy runs; each code exercise's check says so."""
    out = student_notebook(nbformat.read(str(path), as_version=4))
    execute(out, path.parent, timeout=120)
    text = text_of(out)
    labels = [c.metadata["exercise"] for c in out.cells if c.id.startswith("stub-")]
    assert labels
    for label in labels:
        assert f"{label}: not implemented yet" in text, label
