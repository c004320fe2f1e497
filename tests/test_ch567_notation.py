"""Notation rules for chapters 5-7 and the measuring-cost appendix (issue 22 §5).

Two collisions found there, each with a detector that is tested on examples and then run:

- a size letter (N, D, M, H, C, K, L) used as a matrix in a Hadamard product, as chapter 7
  once wrote the identity ``<G, V ⊙ M> = <G ⊙ M, V>`` with M, the output width, as a matrix
  (checked over every chapter and the notation page);
- a code name that the notation page's contract gives to chapter 8 (``S``, the number of
  keys; ``I``, ``E``, ``E_v``, ``Q``, ``U``, ``V``, ``O``, ``K``, ``w``) bound in chapters 5-7
  or the appendix to something else, as chapter 5 once named its sympy layer ``S`` and
  chapter 6 its number of checkpointed segments ``S`` (checked over those pages only:
  chapters 1-2 still bind some of these names, which is reported, not fixed, here).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "chapters").glob("appendix_*.ipynb"))
NOTATION = ROOT / "reference" / "notation.ipynb"
OURS = [ROOT / "chapters" / f"{stem}.ipynb" for stem in
        ("05_linear_layer", "06_jacobian_cost", "07_mlp", "appendix_measuring_cost")]


def _cells(path: Path, kind: str) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def _math(markdown: str) -> list[str]:
    return [a or b for a, b in re.findall(r"\$\$(.+?)\$\$|\$(.+?)\$", markdown, flags=re.S)]


_SIZE_IN_HADAMARD = re.compile(
    r"\\odot\s*(?:N|D|M|H|C|K|L)\b(?!_)|(?<![\\\w])(?:N|D|M|H|C|K|L)\s*\\odot")


def size_letter_in_hadamard(markdown: str) -> list[str]:
    """A size letter written as a matrix operand of ``\\odot``."""
    return [m.group(0) for seg in _math(markdown) for m in _SIZE_IN_HADAMARD.finditer(seg)]


def test_size_letter_detector():
    assert size_letter_in_hadamard(r"$\langle G, V \odot M \rangle = \langle G \odot M, V \rangle$")
    assert size_letter_in_hadamard(r"$$N \odot A$$")
    assert size_letter_in_hadamard(
        r"$\langle G, A \odot B \rangle$, $G_{A_1} \odot \mathbb{1}[Z_1 > 0]$, $M_1 \odot X$, "
        r"$\odot\, \mathbb{1}[Z > 0]$ for $N \times D$") == []


@pytest.mark.parametrize("path", CHAPTERS + [NOTATION], ids=lambda p: p.stem)
def test_no_size_letter_as_a_matrix(path):
    hits = size_letter_in_hadamard("\n".join(_cells(path, "markdown")))
    assert hits == [], f"{path.name}: a size letter used as a matrix: {hits}"


CHAPTER8_NAMES = {"I", "S", "E", "E_v", "Q", "U", "V", "O", "K", "w"}


def bound_names(code: str) -> list[str]:
    """Names bound by assignment, ``for``, ``def``/``lambda`` arguments (IPython magics dropped)."""
    code = "\n".join(line for line in code.split("\n") if not line.lstrip().startswith(("%", "!")))
    found = []
    for node in ast.walk(ast.parse(code)):
        targets: list[ast.AST] = []
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, (ast.For, ast.comprehension)):
            targets = [node.target]
        elif isinstance(node, (ast.Lambda, ast.FunctionDef)):
            found += [a.arg for a in node.args.args]
        for t in targets:
            found += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    return found


def chapter8_names_rebound(code: str) -> list[str]:
    return sorted(set(bound_names(code)) & CHAPTER8_NAMES)


def test_chapter8_name_detector():
    assert chapter8_names_rebound("S = linear_symbols(N, D, M)") == ["S"]
    assert chapter8_names_rebound("for S in (1, 2, 4):\n    pass") == ["S"]
    assert chapter8_names_rebound("f = lambda w: X @ w") == ["w"]
    assert chapter8_names_rebound("sym = linear_symbols(N, D, M)\nfor r in (1, 2):\n    pass\n"
                                  "f = lambda W_: X @ W_\nprint(S)") == []


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.stem)
def test_chapter8_names_keep_their_meaning(path):
    hits = chapter8_names_rebound("\n".join(_cells(path, "code")))
    assert hits == [], f"{path.name}: binds chapter 8's contract names: {hits}"
