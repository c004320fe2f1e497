"""Notation rules for chapter 3, the Jacobian (issue 21 §4).

Chapter 3 once gave five letters a second meaning, and switched from column vectors to
batch rows without saying so. Each detector below finds one of these; each is run on the
chapter and on the chapter as it was before the fix (commit ``PRE_FIX``, read with
``git show``), where it must find something, so a detector that cannot fail is caught too.

- ``h`` is the finite-difference step: no function named ``h`` (or ``h3``), no ``h(x)``
  in the math (the chapter once composed ``h = g ∘ f`` and rebound the Python name ``h``).
- ``L`` is the loss: not the number of layers (``J_L``, ``L - 1``, ``n, L = 256, 4``).
- ``u`` is the unit roundoff (chapter 1): not the upstream vector (the chapter writes ``g``).
- ``t`` is no target here (the chapter writes ``y_target``); targets are ``T``, one-hot.
- ``n`` indexes examples: not a vector's length or a layer's width (the chapter writes ``D``).
- where the linear layer's examples become rows, a callout says so before the first row.
- ``A`` is an activation, ``A = relu(Z)`` (the notation page): the chapter's generic matrices
  are ``B`` (``B_1``, ``B_2``, ``B_wide``, ...), never ``A``, ``A3`` or ``A_wide``. This rule
  came later than the others, so its detector is red at ``PRE_FIX_A`` instead.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CH03 = ROOT / "chapters" / "03_jacobian.ipynb"
PRE_FIX = "e6756ff"      # main before the renames of issue 21 §4
PRE_FIX_A = "8e67f6c"    # main before ch03's generic matrix A became B


def _cells(nb: dict, kind: str) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def _math(markdown: str) -> list[str]:
    markdown = re.sub(r"`[^`\n]*`", "", markdown)          # code spans are not math
    return [a or b for a, b in re.findall(r"\$\$(.+?)\$\$|\$(.+?)\$", markdown, flags=re.S)]


def _bound(code: str) -> list[tuple[str, ast.AST]]:
    """(name, value) for names bound by assignment or ``def`` (value: the assigned node)."""
    code = "\n".join(line for line in code.split("\n") if not line.lstrip().startswith(("%", "!")))
    found: list[tuple[str, ast.AST]] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.FunctionDef):
            found.append((node.name, node))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.append((target.id, node.value))
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    found += [(t.id, v) for t, v in zip(target.elts, node.value.elts)
                              if isinstance(t, ast.Name)]
                elif isinstance(target, ast.Tuple):
                    found += [(t.id, node.value) for t in target.elts if isinstance(t, ast.Name)]
    return found


def _letter(letter: str) -> re.Pattern:
    return re.compile(rf"(?<![\\\w]){letter}(?![\w])")


def h_as_function(nb: dict) -> list[str]:
    """``h`` (the step) bound to a function, or written ``h(...)`` in the math."""
    hits = [f"def/lambda {name}" for code in _cells(nb, "code") for name, value in _bound(code)
            if re.fullmatch(r"h\d*", name)
            and isinstance(value, (ast.FunctionDef, ast.Lambda))]
    hits += [m.group(0) for seg in _math("\n".join(_cells(nb, "markdown")))
             for m in re.finditer(r"(?<![\\\w])h\s*\(|\\circ\s*h\b|(?<![\\\w])h\s*\\circ", seg)]
    return hits


_L_AS_COUNT = re.compile(r"_L\b|_\{L\b|(?<![\\\w])L\s*-\s*1|\(L\s*-|/\s*L\b|(?<![\\\w])L\s*n\b"
                         r"|(?<![\\\w])L\s*\\cdot")


def l_as_layer_count(nb: dict) -> list[str]:
    """``L`` (the loss) used as the number of layers, in the math or bound to an integer."""
    hits = [m.group(0) for seg in _math("\n".join(_cells(nb, "markdown")))
            for m in _L_AS_COUNT.finditer(seg)]
    hits += [f"{name} = {ast.unparse(value)}" for code in _cells(nb, "code")
             for name, value in _bound(code)
             if name == "L" and isinstance(value, ast.Constant) and isinstance(value.value, int)]
    return hits


def second_meaning(nb: dict, letter: str, math_too: bool = True) -> list[str]:
    """``letter`` written as a symbol in the math, or bound as a name (``u3`` counts as ``u``)."""
    hits = []
    if math_too:
        hits += [f"${m.group(0)}$" for seg in _math("\n".join(_cells(nb, "markdown")))
                 for m in _letter(letter).finditer(seg)]
    hits += [f"{name} =" for code in _cells(nb, "code") for name, _ in _bound(code)
             if re.fullmatch(rf"{letter}\d*", name)]
    return hits


_N_AS_LENGTH = re.compile(r"\\mathbb\{R\}\^n\b|(?<![\\\w])n\s*\\times\s*n\b|(?<![\\\w])n\s*\^|"
                          r"(?<![\\\w])n\s*\(")


def n_as_length(nb: dict) -> list[str]:
    """``n`` (the example index) used as a length: ``R^n``, ``n x n``, ``n^2``, ``n = 256``."""
    hits = [m.group(0) for seg in _math("\n".join(_cells(nb, "markdown")))
            for m in _N_AS_LENGTH.finditer(seg)]
    hits += [f"{name} =" for code in _cells(nb, "code") for name, _ in _bound(code) if name == "n"]
    return hits


_FIRST_ROW = re.compile(r"a row \$x\$|row \$x\$ \(\$1 \\times D\$\)")
_CALLOUT = re.compile(r"```\{(?:important|note|admonition)\}[^\n]*\n(?:(?!```).)*\brows\b", re.S)


def rows_without_callout(nb: dict) -> list[str]:
    """The first cell that makes ``x`` a row, unless a callout about rows comes first."""
    cells = _cells(nb, "markdown")
    for i, text in enumerate(cells):
        match = _FIRST_ROW.search(text)
        if match:
            before = "\n".join(cells[:i]) + text[:match.start()]
            return [] if _CALLOUT.search(before) else [f"markdown cell {i}: {match.group(0)}"]
    return []


_A_MATH = re.compile(r"(?<![\\\w{])A(?![a-z]{2})")    # Ax, A_1, A^T; not \mathcal{A} or a word


def a_as_generic_matrix(nb: dict) -> list[str]:
    """``A`` (an activation) used as a generic matrix: ``$Ax$``, ``$A_1$``, or bound in code."""
    hits = [f"${m.group(0)}$ in ${seg.strip()[:40]}$" for seg in _math("\n".join(_cells(nb, "markdown")))
            for m in _A_MATH.finditer(seg)]
    hits += [f"{name} =" for code in _cells(nb, "code") for name, _ in _bound(code)
             if re.fullmatch(r"A(\d*|_\w+)", name)]
    return hits


DETECTORS = {
    "h is the step": h_as_function,
    "L is the loss": l_as_layer_count,
    "u is the unit roundoff": lambda nb: second_meaning(nb, "u"),
    "t is not a target": lambda nb: second_meaning(nb, "t"),
    "n indexes examples": n_as_length,
    "a callout where rows begin": rows_without_callout,
    "A is an activation": a_as_generic_matrix,
}
PRE_FIX_OF = {"A is an activation": PRE_FIX_A}


def _pre_fix(commit: str = PRE_FIX) -> dict:
    try:
        text = subprocess.run(["git", "show", f"{commit}:chapters/03_jacobian.ipynb"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"commit {commit} is not in this checkout")
    return json.loads(text)


@pytest.mark.parametrize("rule", DETECTORS)
def test_chapter3_keeps_the_rule(rule):
    hits = DETECTORS[rule](json.loads(CH03.read_text()))
    assert hits == [], f"03_jacobian: {rule}: {hits}"


@pytest.mark.parametrize("rule", DETECTORS)
def test_detector_is_red_before_the_fix(rule):
    commit = PRE_FIX_OF.get(rule, PRE_FIX)
    assert DETECTORS[rule](_pre_fix(commit)), f"the detector for '{rule}' finds nothing at {commit}"


def test_detectors_on_examples():
    md = lambda text: {"cells": [{"cell_type": "markdown", "source": [text]}]}
    code = lambda text: {"cells": [{"cell_type": "code", "source": [text]}]}
    assert h_as_function(code("def h(x):\n    return x"))
    assert h_as_function(code("h3 = lambda x: x"))
    assert h_as_function(md(r"the composition $h(x) = g(f(x))$"))
    assert not h_as_function(code("for h in [1e-1, 1e-2]:\n    dx = h * d"))
    assert not h_as_function(md(r"the step $\Delta x = h\,d$, error about $h^2$"))
    assert l_as_layer_count(md(r"$J_L J_{L-1} \cdots J_1$"))
    assert l_as_layer_count(code("n, L = 256, 4"))
    assert not l_as_layer_count(md(r"$\nabla_x L$, $\partial L / \partial X$, $L = \ell(y)$, $L_{\text{in}}$"))
    assert second_meaning(md(r"$u^\top J$"), "u") and second_meaning(code("u3 = 1"), "u")
    assert not second_meaning(md(r"$g^\top J$, `u` in code"), "u")
    assert second_meaning(md(r"$\|y - t\|^2$"), "t") and second_meaning(code("t = 0"), "t")
    assert not second_meaning(code("t_rl, t_lr = 1, 2\ny_target = 0"), "t")
    assert n_as_length(md(r"$x \in \mathbb{R}^n$")) and n_as_length(md(r"$n \times n$"))
    assert n_as_length(md(r"$(L-1) n^3$")) and n_as_length(code("n, L = 256, 4"))
    assert not n_as_length(md(r"row $n$ of $dX$ is $G_{n,:} W^\top$, $\sum_n G_{n,:}$"))
    assert not n_as_length(code('view = draw("relu", n=5)'))
    assert rows_without_callout(md(r"the layer maps a row $x$ ($1 \times D$)"))
    assert not rows_without_callout(md("```{important} Rows\nexamples are rows here\n```\n\n"
                                       r"the layer maps a row $x$ ($1 \times D$)"))
    assert a_as_generic_matrix(md(r"$f_1(x) = \tanh(Ax)$")) and a_as_generic_matrix(md(r"$A_1 = B$"))
    assert a_as_generic_matrix(code("A3, B3 = 1, 2")) and a_as_generic_matrix(code("A_wide = 0"))
    assert not a_as_generic_matrix(md(r"A function $f(x) = \tanh(B_1 x)$, `A` in code, $\mathcal{A}$"))
    assert not a_as_generic_matrix(code("B_wide, Abc = 1, 2"))
