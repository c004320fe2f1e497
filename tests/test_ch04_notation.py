"""Chapter 4's notation decisions (issue 21 §4), each a detector that comes back red if the
collision it names is reintroduced.

1. From chapter 4 on (chapter 8's layers aside), an entry of X, Y, W or G is indexed with the book's index letters
   (n, p for examples; d for input features; m, q for output features): ``Y_{ik}`` or
   ``W_{lk}`` (chapter 4's old ``∂Y_ik/∂X_jl = δ_ij W_lk``, where k and m swapped roles
   with chapter 5) is refused.
2. No einsum subscript uses x or y (they read as the variables x and y).
3. No chapter defines a Python function named ``h`` (h is the finite-difference step:
   chapter 3 and 4 once rebound it to a composed function).
4. One name for the step of a directional derivative in code: ``X_dir`` (and ``W_dir``,
   ...), never ``dX_step``, ``E_12`` or ``E_jl``.
5. Chapter 4's code does not rebind ``A``, ``C`` or ``Z`` (the notation page gives them
   other meanings: A = relu(Z), C the number of classes).

Each detector is first tried on a positive and a negative example, so a detector that
stopped detecting fails here rather than passing silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = (sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
         + sorted((ROOT / "chapters").glob("appendix_*.ipynb"))
         + [ROOT / "reference" / "notation.ipynb"])

_SUBSCRIPT = re.compile(r"(?<![\\\w])([XYGW])_\{\s*([a-z])\s*,?\s*([a-z])\s*\}")
_EINSUM = re.compile(r"einsum\(\s*(['\"])([^'\"]*)\1")
_H_FUNC = re.compile(r"^\s*(?:def\s+h\s*\(|h\s*=\s*lambda\b)", re.M)
_DIR_NAMES = re.compile(r"\bdX_step\b|\bE_\d\d\b|\bE_jl\b")
_CH4_REBOUND = re.compile(r"^\s*(A|C|Z)\s*=(?!=)", re.M)


def foreign_indices(markdown: str) -> list[str]:
    hits = []
    for m in _SUBSCRIPT.finditer(markdown):
        if {m.group(2), m.group(3)} - set("npdmq"):
            hits.append(m.group(0))
    return hits


def einsum_xy(code: str) -> list[str]:
    return [m.group(0) for m in _EINSUM.finditer(code) if set(m.group(2)) & set("xy")]


def h_functions(code: str) -> list[str]:
    return [m.group(0).strip() for m in _H_FUNC.finditer(code)]


def direction_names(code: str, markdown: str) -> list[str]:
    return _DIR_NAMES.findall(code + "\n" + markdown)


def ch4_rebound(code: str) -> list[str]:
    return [m.group(0).strip() for m in _CH4_REBOUND.finditer(code)]


@pytest.mark.parametrize("detector,positive,negative", [
    (foreign_indices, r"$\partial Y_{ik}/\partial X_{jl} = \delta_{ij} W_{lk}$",
     r"$\partial Y_{nm}/\partial X_{pd} = \delta_{np} W_{dm}$, `X_dir`, $W_g$"),
    (foreign_indices, r"$G_{n, k}$", r"$G_{n, m}$, $W_a$, $Y_n$"),
    (einsum_xy, 'torch.einsum("xy,yz->xz", A, B)', 'torch.einsum("nm,nmpd->pd", G, J)'),
    (h_functions, "def h(x):\n    return g(f(x))", "h = 1e-6\ndef g_of_f(x):\n    pass"),
    (h_functions, "h = lambda x: g(f(x))", "hh = lambda x: x"),
    (lambda code: direction_names(code, ""), "dX_step = torch.randn(3)", "X_dir = torch.randn(3)"),
    (lambda code: direction_names(code, ""), "E_12 = torch.zeros(2, 3)", "E = 1"),
    (ch4_rebound, "C = torch.randn(3, 4)", "C_in = 3\nif C == 2: pass"),
])
def test_detectors_find_and_ignore(detector, positive, negative):
    assert detector(positive), f"{detector.__name__} missed {positive!r}"
    assert not detector(negative), f"{detector.__name__} flagged {negative!r}"


def _sources(path: Path) -> tuple[str, str]:
    nb = nbformat.read(str(path), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return code, markdown


#: pages that still break a rule while their helper rewrites them: a strict xfail, so the
#: entry must go the day the page is fixed
PENDING: dict[str, str] = {}


def _pending(paths):
    return [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=PENDING[p.stem]))
            if p.stem in PENDING else p for p in paths]


def _from_chapter_4(path: Path) -> bool:
    """Chapters 4 to 7, the appendix and the notation page (chapter 8's convolution and
    attention index channels, positions and keys with letters of their own)."""
    return not re.match(r"0[1238]_", path.name)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_index_letters_from_chapter_4_on(path):
    if not _from_chapter_4(path):
        pytest.skip("chapters 1-3 index vectors (x_i, J_ij) before the book's index letters; "
                    "chapter 8 indexes channels, positions and keys")
    _, markdown = _sources(path)
    assert foreign_indices(markdown) == [], (
        f"{path.name}: entries of X, Y, W, G take the index letters n, p (examples), d "
        f"(inputs), m, q (outputs)")


@pytest.mark.parametrize("path", _pending(PAGES), ids=lambda p: p.stem)
def test_no_einsum_x_y_no_h_function_one_direction_name(path):
    code, markdown = _sources(path)
    assert einsum_xy(code) == [], f"{path.name}: einsum letters x, y read as variables"
    assert h_functions(code) == [], f"{path.name}: h is the finite-difference step"
    assert direction_names(code, markdown) == [], f"{path.name}: a step is named X_dir"


def test_chapter_4_does_not_rebind_A_C_Z():
    code, _ = _sources(ROOT / "chapters" / "04_generalized_jacobian.ipynb")
    assert ch4_rebound(code) == [], "A = relu(Z) and C (classes) are the notation page's"
