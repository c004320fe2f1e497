"""The book's notation (reference/notation.ipynb) is stated once and followed.

What can be enforced mechanically:

1. the notation page's table "Shapes in the helpers" is exactly what the helpers'
   docstrings say, and every concrete shape in it agrees with the page's contract table
   (a leading ``*`` stands for N);
2. no chapter's code stores a one-hot target matrix in a variable named ``Y``
   (``T`` is the one-hot target, ``Y`` the layer's output);
3. in chapters 2 and 3, ``N`` is not the length of a vector (``N`` is only the batch
   size; vector lengths are ``D`` and ``M``): no ``\\mathbb{R}^N`` in the text and no
   1-D tensor of length ``N`` in the code;
4. the step function is never written ``H`` (``H`` is the MLP's hidden width);
5. the gradient-layout sentence is the same words on the notation page and in
   chapters 2, 3 and 4.

Each detector is tested on small positive and negative examples first, so that a
detector that stopped detecting fails here rather than passing silently.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import nbformat
import pytest

import helpers

ROOT = Path(__file__).resolve().parents[1]
NOTATION = ROOT / "reference" / "notation.ipynb"
CHAPTERS = (sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
            + sorted((ROOT / "chapters").glob("appendix_*.ipynb")))
LAYOUT_SENTENCE = ("a gradient has the shape of its variable; the numerator-layout "
                   "Jacobian row holds the same numbers")
HELPERS_WITH_SHAPES = ["linear", "linear_vjp", "nn_linear_vjp", "relu_vjp",
                       "softmax_cross_entropy_vjp"]


def _cells(path: Path, kind: str) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    return [c.source for c in nb.cells if c.cell_type == kind]


def _chapter(prefix: str) -> Path:
    found = [p for p in CHAPTERS if p.name.startswith(prefix)]
    assert found, f"no chapter {prefix}_*.ipynb"
    return found[0]


# ---------------------------------------------------------------- markdown tables

def markdown_table(text: str, header: list[str]) -> list[list[str]]:
    """The rows of the first pipe table whose header cells are ``header`` (stripped)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == header and i + 1 < len(lines) and set(lines[i + 1].strip()) <= set("|-: "):
            rows = []
            for row in lines[i + 2:]:
                if not row.strip().startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table with header {header}")


def normalize_shape(text: str) -> str:
    """``(*, D)``, ``like Z``, ``any``: backticks and spaces removed, for comparison."""
    return re.sub(r"[`\s]", "", text)


# ---------------------------------------------------------------- docstring shapes

def docstring_shapes(func) -> dict[str, str]:
    """Argument (or result) name -> the shape its NumPy docstring states.

    Reads the ``Parameters`` and ``Returns`` sections. A shape is the first
    ``shape ``(...)`` `` of the entry's description; "shape of Z" gives ``likeZ``
    and "any shape" gives ``any``. An unnamed result is called ``returns``.
    """
    doc = inspect.getdoc(func) or ""
    out: dict[str, str] = {}
    section = None
    entry = None
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()):
            section = line.strip()
            entry = None
            continue
        if section not in ("Parameters", "Returns") or re.fullmatch(r"-{3,}", line.strip()):
            continue
        if line and not line.startswith(" "):
            head = line.split(":")[0].strip()
            if section == "Returns" and ":" not in line:
                head = "returns"
            for name in head.split(","):
                out.setdefault(name.strip(), "")
            entry = [n.strip() for n in head.split(",")]
            continue
        if entry is None:
            continue
        for name in entry:
            if out[name]:
                continue
            m = re.search(r"[Ss]hape ``(\([^`]*\))``", line)
            if m:
                out[name] = normalize_shape(m.group(1))
            elif re.search(r"\bany shape\b", line, flags=re.I):
                out[name] = "any"
            elif m2 := re.search(r"shape of ``?(\w+)``?", line):
                out[name] = "like" + m2.group(1)
    return {k: v for k, v in out.items() if v}


def _example_doc():
    """Example.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient, shape ``(*, M)``.
    Z : torch.Tensor
        Any shape.

    Returns
    -------
    torch.Tensor
        dL/dZ, shape of ``Z``.
    """


def test_docstring_parser_reads_parameters_and_returns():
    assert docstring_shapes(_example_doc) == {"G": "(*,M)", "Z": "any", "returns": "likeZ"}
    assert docstring_shapes(helpers.linear_vjp) == {
        "G": "(*,M)", "X": "(*,D)", "W": "(D,M)", "dX": "(*,D)", "dW": "(D,M)", "db": "(M,)"}


def _page_markdown() -> str:
    return "\n".join(_cells(NOTATION, "markdown"))


def test_helper_table_matches_the_docstrings():
    rows = markdown_table(_page_markdown(), ["helper", "argument or result", "shape"])
    page: dict[str, dict[str, str]] = {}
    for helper, arg, shape in rows:
        page.setdefault(helper.strip("`"), {})[arg.strip("`")] = normalize_shape(shape)
    assert sorted(page) == sorted(HELPERS_WITH_SHAPES), "the table lists exactly these helpers"
    for name in HELPERS_WITH_SHAPES:
        documented = docstring_shapes(getattr(helpers, name))
        assert page[name] == documented, (
            f"helpers.{name}: the notation page says {page[name]}, the docstring says {documented}")


def contract_shapes() -> dict[str, str]:
    """Code name -> shape from the contract table (several names in a row share it in order)."""
    rows = markdown_table(_page_markdown(), ["symbol", "shape", "in code", "meaning"])
    out = {}
    for _, shape, code, _ in rows:
        names = re.findall(r"`([A-Za-z_]\w*)`", code)
        shapes = re.findall(r"`(\([^`]*\))`", shape)
        if len(shapes) == len(names):
            out.update({n: normalize_shape(s) for n, s in zip(names, shapes)})
        elif len(shapes) == 1:
            out.update({n: normalize_shape(shapes[0]) for n in names})
    return out


def test_contract_table_has_the_book_names():
    shapes = contract_shapes()
    expected = {"X": "(N,D)", "W": "(D,M)", "b": "(M,)", "Y": "(N,M)", "G": "(N,M)",
                "dX": "(N,D)", "dW": "(D,M)", "db": "(M,)", "J_X": "(N,M,N,D)",
                "J_W": "(N,M,D,M)", "J_b": "(N,M,M)", "weight": "(M,D)", "T": "(N,C)",
                "labels": "(N,)", "logits": "(N,C)"}
    for name, shape in expected.items():
        assert shapes.get(name) == shape, f"{name}: contract table says {shapes.get(name)}"


def test_helper_shapes_agree_with_the_contract():
    """Every concrete helper shape, with the leading * read as N, is the contract's shape."""
    contract = contract_shapes()
    checked = 0
    for name in HELPERS_WITH_SHAPES:
        for arg, shape in docstring_shapes(getattr(helpers, name)).items():
            if not shape.startswith("(") or arg not in contract:
                continue
            as_batch = re.sub(r"^\(\*", "(N", shape)
            assert as_batch == contract[arg], (
                f"helpers.{name}({arg}) has shape {shape}; the notation page says {contract[arg]}")
            checked += 1
    assert checked >= 12, f"only {checked} helper shapes were compared with the contract"


# ---------------------------------------------------------------- Y is never a one-hot

_ONEHOT_RHS = re.compile(r"one_hot\(|torch\.eye\([^)]*\)\s*\[|\.scatter_?\(")


def onehot_Y(code: str) -> list[str]:
    """Lines that put a one-hot matrix into a variable named exactly ``Y``."""
    hits = []
    for line in code.splitlines():
        s = line.split("#")[0]
        if re.match(r"\s*Y\s*=[^=]", s) and _ONEHOT_RHS.search(s):
            hits.append(line.strip())                      # Y = F.one_hot(...), Y = eye(C)[labels]
        elif re.match(r"\s*Y\s*\[[^\]]*\]\s*=\s*1(\.0*)?\s*$", s):
            hits.append(line.strip())                      # Y[arange(N), labels] = 1
        elif re.match(r"\s*Y\s*\.\s*scatter_\(", s):
            hits.append(line.strip())                      # Y.scatter_(1, labels[:, None], 1)
    return hits


@pytest.mark.parametrize("code", [
    "Y = F.one_hot(labels, C).to(torch.float64)",
    "Y = torch.nn.functional.one_hot(labels, num_classes=C).double()",
    "Y = torch.zeros(N, C)\nY[torch.arange(N), labels] = 1.0",
    "Y = torch.eye(C, dtype=torch.float64)[labels]",
    "Y = torch.zeros(N, C).scatter_(1, labels[:, None], 1.0)",
    "Y = torch.zeros(N, C)\nY.scatter_(1, labels.unsqueeze(1), 1)",
])
def test_onehot_Y_detector_finds(code):
    assert onehot_Y(code)


@pytest.mark.parametrize("code", [
    "Y = X @ W + b",
    "T = F.one_hot(labels, C).to(torch.float64)",
    "Y_hat = torch.zeros(N, M)",
    "Y = linear(X, W, b)  # not F.one_hot",
    "YT = torch.eye(C)[labels]",
    "Y[0, 0] = 2.5",
])
def test_onehot_Y_detector_ignores(code):
    assert onehot_Y(code) == []


@pytest.mark.parametrize("path", CHAPTERS + [NOTATION], ids=lambda p: p.stem)
def test_no_onehot_matrix_named_Y(path):
    hits = [h for src in _cells(path, "code") for h in onehot_Y(src)]
    assert hits == [], f"{path.name}: one-hot targets are T, never Y: {hits}"


# ---------------------------------------------------------------- N is the batch size only

_VECTOR_OF_N = re.compile(
    r"torch\.(randn|rand|zeros|ones|empty|full)\(\s*N\s*(\)|,\s*(dtype|generator|device|requires_grad)\s*=)")
_R_N = re.compile(r"\\mathbb\{R\}\^(N\b|\{\s*N\s*\})(?!\s*\\times)")


def n_as_vector_length(code: str, markdown: str) -> list[str]:
    """Places where N is the length of a vector: a 1-D tensor of N entries, or R^N.

    A batch of N examples is always at least 2-D, (N, D) or (N, C), and lives in
    R^{N x D}; so a 1-D tensor of length N, a shape ``(N,)``, or the space R^N alone means
    N is being used as a vector length. (Class labels, one integer per example, are
    ``(N,)`` too: chapters 2 and 3 create them with ``randint``, which is not flagged.)
    """
    hits = [m.group(0) for m in _VECTOR_OF_N.finditer(code)]
    hits += [m.group(0) for m in _R_N.finditer(markdown)]
    return hits


@pytest.mark.parametrize("code,markdown", [
    ("x = torch.randn(N, dtype=torch.float64)", ""),
    ("N = 4\nv = torch.ones(N)", ""),
    ("", r"Let $f:\mathbb{R}^N \to \mathbb{R}$"),
    ("", r"for $x \in \mathbb{R}^{N}$"),
])
def test_vector_length_detector_finds(code, markdown):
    assert n_as_vector_length(code, markdown)


@pytest.mark.parametrize("code,markdown", [
    ("X = torch.randn(N, D, dtype=torch.float64)", r"$X \in \mathbb{R}^{N \times D}$"),
    ("Z = torch.randn(N, C, dtype=torch.float64)", r"$\mathbb{R}^D \to \mathbb{R}^M$"),
    ("labels = torch.randint(0, C, (N,))\nidx = torch.arange(N)", r"$\mathbb{R}^{N\times C}$"),
])
def test_vector_length_detector_ignores(code, markdown):
    assert n_as_vector_length(code, markdown) == []


@pytest.mark.parametrize("prefix", ["02", "03"])
def test_N_is_not_a_vector_length(prefix):
    path = _chapter(prefix)
    hits = n_as_vector_length("\n".join(_cells(path, "code")), "\n".join(_cells(path, "markdown")))
    assert hits == [], (f"{path.name}: N is the batch size only; vector lengths are D and M: "
                        f"{hits}")


# ---------------------------------------------------------------- H is not the step function

_H_STEP_MD = re.compile(r"(?<![\\\w])H\s*\(|Heaviside[^.\n]{0,40}\$H\$|\$H\$[^.\n]{0,40}Heaviside")
_H_STEP_CODE = re.compile(r"^\s*(def\s+H\s*\(|H\s*=\s*(lambda|torch\.heaviside|\(?\s*\w+\s*>\s*0))",
                          re.M)


def h_as_step(code: str, markdown: str) -> list[str]:
    """Places where H is a function (the step): ``H(z)`` in math, ``def H(`` or ``H = lambda``."""
    math = " ".join(re.findall(r"\$\$?(.+?)\$\$?", markdown, flags=re.S))
    hits = [m.group(0) for m in _H_STEP_MD.finditer(math)]
    hits += [m.group(0) for m in re.finditer(r"Heaviside[^.\n]{0,40}\$H\$|\$H\$[^.\n]{0,40}Heaviside",
                                             markdown)]
    hits += [m.group(0).strip() for m in _H_STEP_CODE.finditer(code)]
    return hits


@pytest.mark.parametrize("code,markdown", [
    ("", r"$\mathrm{relu}'(z) = H(z)$"),
    ("", r"the Heaviside step function $H$"),
    ("H = lambda z: (z > 0).double()", ""),
    ("def H(z):\n    return (z > 0).to(z.dtype)", ""),
    ("H = (Z > 0).double()", ""),
])
def test_step_detector_finds(code, markdown):
    assert h_as_step(code, markdown)


@pytest.mark.parametrize("code,markdown", [
    ("H = 16\nW1 = torch.randn(D, H)", r"hidden width $H$, $W_1$ is $D \times H$"),
    ("step = (Z > 0).double()", r"$\mathbb{1}[z > 0]$ and $\operatorname{relu}(z)$"),
    ("", r"$O(H)$ memory, $\mathbb{R}^{N \times H}$"),
])
def test_step_detector_ignores(code, markdown):
    assert h_as_step(code, markdown) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_H_is_not_the_step_function(path):
    hits = h_as_step("\n".join(_cells(path, "code")), "\n".join(_cells(path, "markdown")))
    assert hits == [], f"{path.name}: write the step as 1[z > 0] or `step`, never H: {hits}"


# ---------------------------------------------------------------- the layout sentence

def _plain_text(markdown: str) -> str:
    text = re.sub(r"[*_]", "", markdown)          # emphasis
    return re.sub(r"\s+", " ", text).lower()


@pytest.mark.parametrize("where", ["notation", "02", "03", "04"])
def test_layout_sentence_in_the_same_words(where):
    path = NOTATION if where == "notation" else _chapter(where)
    assert LAYOUT_SENTENCE.lower() in _plain_text("\n".join(_cells(path, "markdown"))), (
        f"{path.name} should state the layout rule in the book's words: {LAYOUT_SENTENCE!r}")


# ================================================================ chapters 5 and 6 (and the
# appendix on measuring cost): issue 22 §5, run over every chapter. Rules: the finite-difference
# step is h (never epsilon, which is the normalization constant); a direction along which a
# function is perturbed is named ``*_dir`` (``X_dir``: never E, V, dx, dirs for it); the
# Kronecker delta is written delta (no Iverson brackets for an equality of indices); math
# indices start at 1 (no sum from 0 over an index letter).
#
# PENDING lists violations that exist, when these detectors were written, in chapters other
# helpers are rewriting; each is a strict xfail, so it turns red once the chapter is fixed:
# then delete its entry.
PENDING = {
    ("fd_step", "01_scalar_derivative"): "ch01's exercise argument eps becomes h",
    ("fd_step", "07_mlp"): "ch07's directional check uses epsilon as the step",
    ("kronecker", "07_mlp"): "ch07 writes [k = k_n] for the Kronecker delta",
    ("direction", "02_gradient"): "ch02 names its directions E, dirs, perp",
    ("direction", "08_more_layers"): "ch08 names a direction dx",
    ("index_base", "08_more_layers"): "ch08's math counts from 0",
}

_EPS_STEP_MD = re.compile(
    r"[+-]\s*\\(?:var)?epsilon\s*(?:\\[,;!]\s*)*(?:[A-Za-z]\b|\\mathbf|\\mathrm\{d\}|\\theta)"
    r"|/\s*\(?\s*2\s*\\(?:var)?epsilon")
_EPS_STEP_CODE = re.compile(r"[+-]\s*eps\s*\*\s*\w|/\s*\(\s*2\s*\*\s*eps\s*\)")


def epsilon_as_step(code: str, markdown: str) -> list[str]:
    """A finite-difference step written epsilon: ``x + eps * v`` or ``/ (2 * eps)`` in code,
    ``x + \\varepsilon V`` or ``/ 2\\varepsilon`` in math. A normalization constant added to
    a variance (``var + eps``, ``\\sigma^2 + \\varepsilon``) is not flagged."""
    math = " ".join(re.findall(r"\$\$?(.+?)\$\$?", markdown, flags=re.S))
    return ([m.group(0) for m in _EPS_STEP_CODE.finditer(code)]
            + [m.group(0) for m in _EPS_STEP_MD.finditer(math)])


@pytest.mark.parametrize("code,markdown", [
    ("rate = (f(x + eps * v) - f(x - eps * v)) / (2 * eps)", ""),
    ("d = (f(x + eps) - f(x - eps)) / (2 * eps)", ""),
    ("", r"$(L(\theta + \varepsilon V) - L(\theta - \varepsilon V)) / (2\varepsilon)$"),
    ("", r"$f(x + \epsilon\, v)$"),
])
def test_epsilon_step_detector_finds(code, markdown):
    assert epsilon_as_step(code, markdown)


@pytest.mark.parametrize("code,markdown", [
    ("y = (x - mu) / torch.sqrt(var + eps)", r"$\hat x = (x - \mu)/\sqrt{\sigma^2 + \varepsilon}$"),
    ("rate = (f(x + h * x_dir) - f(x - h * x_dir)) / (2 * h)", r"$(f(x + h v) - f(x - h v))/2h$"),
    ("", r"$\sigma = \sqrt{\operatorname{var} + \epsilon}$, with $\varepsilon = 10^{-5}$"),
])
def test_epsilon_step_detector_ignores(code, markdown):
    assert epsilon_as_step(code, markdown) == []


_PERTURBED = re.compile(r"[+-]\s*h\s*\*\s*([A-Za-z_]\w*)")


def directions_not_named_dir(code: str) -> list[str]:
    """Names multiplied by the step h in a perturbation (``X + h * X_dir``) that do not end
    in ``_dir``: a direction has one name in the book."""
    return sorted({name for name in _PERTURBED.findall(code) if not name.endswith("_dir")})


def test_direction_detector():
    assert directions_not_named_dir("L(X + h * E) - L(X - h * E)") == ["E"]
    assert directions_not_named_dir("f(x + h * dx)\ng(S - h * V)") == ["V", "dx"]
    assert directions_not_named_dir("loss(X + h * X_dir, W + h * W_dir)") == []
    assert directions_not_named_dir("y = a * h * b\nz = x - h ** 2") == []


_IVERSON = re.compile(r"\[\s*[a-z](?:_\w)?\s*=\s*[a-z](?:_\w)?\s*\]|\\mathbb\{1\}_\{[a-z]\s*=\s*[a-z]\}"
                      r"|\\llbracket|\[\\!\[")


def iverson_for_equal_indices(markdown: str) -> list[str]:
    """An equality of indices written as an Iverson bracket (``[n = p]``,
    ``\\mathbb{1}_{i=j}``) where the book writes the Kronecker delta ``\\delta_{np}``.
    The step function ``\\mathbb{1}[z > 0]`` is not flagged."""
    math = " ".join(re.findall(r"\$\$?(.+?)\$\$?", markdown, flags=re.S))
    return [m.group(0) for m in _IVERSON.finditer(math)]


def test_iverson_detector():
    assert iverson_for_equal_indices(r"$\partial y_{nm}/\partial x_{pd} = [n = p]\, w_{dm}$")
    assert iverson_for_equal_indices(r"$\mathbb{1}_{i=j}$ and $\llbracket m = q \rrbracket$")
    assert iverson_for_equal_indices(r"$\delta_{np} w_{dm}$, $\mathbb{1}[z > 0]$, $[0, 1]$") == []


_SUM_FROM_0 = re.compile(r"\\sum_\{?\s*[a-z]\s*=\s*0|\b[a-z]\s*=\s*0\s*,\s*\\(?:dots|ldots)")


def math_index_from_0(markdown: str) -> list[str]:
    """A sum or an index range in the math that starts at 0 (the math counts from 1; the code
    from 0, which the chapters say where it matters)."""
    math = " ".join(re.findall(r"\$\$?(.+?)\$\$?", markdown, flags=re.S))
    return [m.group(0) for m in _SUM_FROM_0.finditer(math)]


def test_index_base_detector():
    assert math_index_from_0(r"$\sum_{k=0}^{K-1} w_k x_{l+k}$")
    assert math_index_from_0(r"for $n = 0, \dots, N-1$")
    assert math_index_from_0(r"$\sum_{n=1}^{N} g_{nm}$, $x_0$, $h = 0.1$, $x = 0$") == []


_DETECTORS = {
    "fd_step": lambda code, md: epsilon_as_step(code, md),
    "direction": lambda code, md: directions_not_named_dir(code),
    "kronecker": lambda code, md: iverson_for_equal_indices(md),
    "index_base": lambda code, md: math_index_from_0(md),
}


def _ch56_cases():
    for rule in _DETECTORS:
        for path in CHAPTERS + [NOTATION]:
            marks = ()
            if (rule, path.stem) in PENDING:
                marks = pytest.mark.xfail(strict=True, reason=PENDING[(rule, path.stem)])
            yield pytest.param(rule, path, marks=marks, id=f"{rule}-{path.stem}")


@pytest.mark.parametrize("rule,path", list(_ch56_cases()))
def test_book_wide_notation_rules_of_chapters_5_and_6(rule, path):
    code = "\n".join(_cells(path, "code"))
    markdown = "\n".join(_cells(path, "markdown"))
    hits = _DETECTORS[rule](code, markdown)
    assert hits == [], f"{path.name}: {rule}: {hits}"
